"""Every notebook through papermill (random-tiny, 60 small synthetic-shapes images), the batch runner,
the run index, resuming a killed batch, and bad parameters failing in the first cell."""
from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
import torch
import yaml
from PIL import Image

import indirect_core as ic
from conftest import SMOKE_UNREADABLE
from indirect_core import batch
from indirect_core.report import plots
from indirect_core.composed.methods import method_name
from indirect_core.core.models import display_name

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _job(run_dir: Path, name: str) -> Path:
    return run_dir / "synthetic-shapes" / "random-tiny" / name


def _is_image(path: Path, min_side: int = 100) -> bool:
    with Image.open(path) as image:
        image.load()
        return min(image.size) >= min_side and len(np.unique(np.asarray(image.convert("L")))) > 10


@pytest.mark.slow
def test_every_notebook_executed_and_saved_without_error(smoke_run):
    run_dir, _, logs = smoke_run
    statuses = [json.loads(p.read_text()) for p in run_dir.rglob("status.json")]
    assert sorted(s["job"].rsplit("/", 1)[1] for s in statuses) == [
        "01_cache", "02_fit-background-colour", "02_fit-object-colour", "02_fit-shape", "03_evaluate",
        "04_attribution", "05_composed", "06_train-lincir", "06_train-pic2word"]
    assert all(s["state"] == "succeeded" for s in statuses), logs
    for status in statuses:
        executed = nbformat.read(run_dir / status["job"] / status["notebook"], as_version=4)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors
        stray = [o["data"]["text/plain"] for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if o.get("output_type") == "execute_result" and set(o.get("data", {})) == {"text/plain"}]
        assert not stray, (status["job"], stray)  # no bare cell values such as "Out[3]: 1" between the cells
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
        assert status["kernel_starts"] >= 1


@pytest.mark.slow
def test_composed_retrieval_trains_both_mappers_and_scores_them_beside_the_baselines(smoke_run):
    """The smoke plan includes plans/composed-smoke.yaml: notebook 06 trains Pic2Word and LinCIR, notebook 05
    scores them with the three baselines; the index shows the table and the figures."""
    run_dir, base, _ = smoke_run
    tiny = ic.load_backbone("random-tiny", cache_dir=base / "data" / "cache")
    for method in ("pic2word", "lincir"):
        job = run_dir / "composed" / "random-tiny" / f"06_train-{method}"
        mapper = ic.composed.load_mapper(job / "mapper.pt", tiny)
        assert mapper.method == method and (mapper.embed_dim, mapper.token_width) == (512, 64)
        curve = pd.read_csv(job / "loss_curve.csv")
        assert len(curve) == 20 and _is_image(job / "figures" / "loss_curve.png")
    job = run_dir / "synthetic-shapes-cir" / "random-tiny" / "05_composed"
    table = pd.read_csv(job / "results.csv", keep_default_na=False)
    assert list(table.method) == ["image-only", "text-only", "image + text", "Pic2Word", "LinCIR", "InDiReCT-CIR",
                                  "InDiReCT-CIR (oracle routing)"]
    assert (table.n_queries == 40).all() and (table.warning == ic.backbone.RANDOM_WEIGHTS_MARKER).all()
    assert {"R@1", "R@50", "R_subset@1", "R_subset@3"} <= set(table.columns)
    assert ((table["R@1"] <= table["R@50"]) & (table["R_subset@1"] <= table["R_subset@3"])).all()
    record = json.loads((job / "provenance.json").read_text())
    assert record["WARNING"] == ic.backbone.RANDOM_WEIGHTS_MARKER and record["settings"]["mappers"]["lincir"].endswith(
        "06_train-lincir/mapper.pt")
    assert _is_image(job / "figures" / "composed_recall.png") and _is_image(job / "figures" / "composed_examples.png")
    assert r"\toprule" in (job / "results.tex").read_text() and "| LinCIR |" in (job / "results.md").read_text()
    # InDiReCT-CIR's extras: scores per changed factor for every method, its routing accuracy, its prompts
    by_changed = pd.read_csv(job / "results_by_changed.csv", keep_default_na=False)
    assert set(by_changed.method) == set(table.method)
    assert by_changed.groupby("method")["n_queries"].sum().eq(40).all()
    routing = pd.read_csv(job / "routing.csv", keep_default_na=False)
    assert routing["changed"].iloc[0] == "all" and routing["routing accuracy"].between(0, 1).all()
    notions = pd.read_csv(job / "notions.csv", keep_default_na=False)
    assert notions["notion"].tolist() == ["shape", "object colour", "background colour", "size"]
    assert (notions["solver"] == "InDiReCT").all() and (notions["dimensions"] == 32).all()
    index = (run_dir / "index.html").read_text()
    assert "Composed retrieval" in index and "Mapper training" in index and "composed_examples.png" in index
    assert "Routing accuracy" in index and "By changed factor(s)" in index
    assert index.index("synthetic-shapes-cir/random-tiny") < index.index("composed/random-tiny")


@pytest.mark.slow
def test_batch_console_says_loudly_that_weights_were_random(smoke_run):
    _, _, logs = smoke_run
    banner = [line for line in logs if ic.backbone.RANDOM_WEIGHTS_MARKER.upper() in line]
    assert len(banner) == 1 and "INDIRECT_CLIP_CHECKPOINT" in banner[0]


@pytest.mark.slow
def test_cache_notebook_outputs(smoke_run):
    run_dir, base, _ = smoke_run
    job = _job(run_dir, "01_cache")
    record = json.loads((job / "provenance.json").read_text())
    assert record["settings"]["cache"]["n_features"] == 59 and record["WARNING"] == ic.backbone.RANDOM_WEIGHTS_MARKER
    unreadable = f"images/{SMOKE_UNREADABLE:06d}.png"
    assert list(record["settings"]["skipped_images"]) == [unreadable]  # on_error: skip, and said so
    tiny = ic.load_backbone("random-tiny", cache_dir=base / "data" / "cache")
    assert record["backbone"]["sha256"] == tiny.weights_sha256
    assert Path(record["settings"]["cache"]["location"]).is_relative_to(base / "data" / "cache")
    for notion in ("shape", "object-colour", "background-colour"):
        assert _is_image(job / "figures" / f"samples_{notion}.png")
        assert (job / "figures" / f"samples_{notion}.pdf").read_bytes().startswith(b"%PDF")
    assert (base / "data" / "synthetic-shapes-n60-px64-seed0" / "manifest.csv").is_file()


@pytest.mark.slow
def test_the_sample_strips_show_different_images_one_per_label(smoke_run):
    run_dir, _, _ = smoke_run
    samples = json.loads((_job(run_dir, "01_cache") / "provenance.json").read_text())["settings"]["samples"]
    assert list(samples) == ["shape", "object colour", "background colour"]
    shown = [name for strip in samples.values() for name in strip]
    assert len(shown) == 3 * 6 and len(set(shown)) == len(shown)  # no image in two strips
    for strip in samples.values():
        assert len(set(strip.values())) == len(strip)  # one image per label value of that notion


@pytest.mark.slow
def test_fit_notebook_saves_a_loadable_projection(smoke_run):
    run_dir, base, _ = smoke_run
    job = _job(run_dir, "02_fit-object-colour")
    tiny = ic.load_backbone("random-tiny", cache_dir=base / "data" / "cache")
    space, record = ic.core.projections.load_projection(job / "projection.pt", backbone=tiny)
    notion = ic.get_notion("synthetic-shapes", "object colour")
    assert record["prompts"] == notion.prompts and record["metadata"]["seed"] == 0
    assert record["model"] == "indirect" and isinstance(space, ic.InDiReCT)  # the authors' procedure
    assert space.components_.shape == (16, 512)
    assert record["backbone"]["sha256"] == tiny.weights_sha256
    refit = ic.InDiReCT(n_components=16, random_state=0).fit(tiny.encode_texts(notion.prompts))
    assert torch.equal(space.components_, refit.components_)  # exactly the evaluation's first repetition
    assert _is_image(job / "figures" / "loss_curve.png") and _is_image(job / "figures" / "explained_variance.png")


@pytest.mark.slow
def test_evaluate_notebook_tables_and_figures(smoke_run):
    run_dir, base, _ = smoke_run
    job = _job(run_dir, "03_evaluate")
    runs = pd.read_csv(job / "runs.csv")
    assert len(runs) == 3 * 6 * 2 and (runs.fit_seconds >= 0).all() and (runs.evaluate_seconds > 0).all()
    assert set(runs.model) == {"random", "clip", "indirect", "indirect-lbfgs", "pca", "oracle"}
    assert set(runs.notion) == {"shape", "object colour", "background colour"}
    summary = pd.read_csv(job / "summary.csv")
    assert {"mean_average_precision_at_r_mean", "mean_average_precision_at_r_std"} <= set(summary.columns)
    markdown = (job / "results.md").read_text()
    assert "RANDOM WEIGHTS" in markdown and "MAP@R" in markdown and "± " in markdown
    assert r"\toprule" in (job / "results.tex").read_text()
    record = json.loads((job / "provenance.json").read_text())
    tiny = ic.load_backbone("random-tiny", cache_dir=base / "data" / "cache")
    assert record["backbone"]["sha256"] == tiny.weights_sha256 and record["seeds"] == [0, 1]
    assert record["dataset"]["n_images"] == 59  # the unreadable image is left out here too (on_error: skip)
    assert list(record["settings"]["skipped_images"]) == [f"images/{SMOKE_UNREADABLE:06d}.png"]
    overlap = record["settings"]["prompt_label_overlap"]["shape"]
    assert overlap["n_shared"] == 8 and overlap["n_words"] == 33  # the 8 drawn shapes are prompt words
    assert "- Prompt words: 8 of 33 prompt words equal an evaluation label" in markdown
    for figure in ("metric_bars_map_at_r", "metrics_grid", "neighbours"):
        assert _is_image(job / "figures" / f"{figure}.png") and (job / "figures" / f"{figure}.pdf").is_file()


def _reader_text(notebook: Path, markdown: bool = True) -> str:
    """What a reader of an executed notebook reads: its markdown (unless ``markdown=False``) and the text of its
    outputs (no code, no parameters: neither the parameter cells nor the check cell's table of their values)."""
    parts = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "markdown" and markdown:
            parts.append(cell.source)
        for output in cell.get("outputs", []):
            if batch.parameters.TABLE_CLASS not in output.get("data", {}).get("text/html", ""):
                parts.append(output.get("text", "") + output.get("data", {}).get("text/html", ""))
    return "\n".join(parts)


@pytest.mark.slow
def test_attribution_text_follows_the_parameters(smoke_run):
    run_dir, _, _ = smoke_run
    job = _job(run_dir, "04_attribution")
    samples = json.loads((job / "provenance.json").read_text())["settings"]["samples"]
    text = _reader_text(job / "04_attribution.ipynb")
    counts = re.findall(r"(\d+) (?:samples|noisy copies|steps)\b", text)
    assert counts and set(counts) == {str(samples)}  # the run's number, never the default's


@pytest.mark.slow
def test_pages_name_the_mapping_networks_as_their_papers_do(smoke_run):
    run_dir, _, _ = smoke_run
    for job in (run_dir / "composed").glob("*/06_train-*"):
        text = _reader_text(job / "06_train_mapper.ipynb", markdown=False)  # the markdown cites keys as code
        method = json.loads((job / "provenance.json").read_text())["settings"]["method"]
        assert method_name(method) in text
        assert not re.findall(rf"(?<![\w/.-]){method}(?![\w/.-])", text)  # the key only inside file paths


@pytest.mark.slow
def test_attribution_notebook_reports_mask_shares(smoke_run):
    run_dir, _, _ = smoke_run
    job = _job(run_dir, "04_attribution")
    shares = pd.read_csv(job / "mask_share.csv")
    assert list(dict.fromkeys(shares.space)) == ["CLIP", "shape", "object colour", "background colour"]
    assert len(shares) == 4 * 2 and shares.mask_share.between(0, 1).all()
    assert shares.object_area.between(0.005, 0.6).all()
    assert _is_image(job / "figures" / "attributions.png") and _is_image(job / "figures" / "mask_share.png")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images, self.tables, self.text = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.links.append(attrs["href"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self.tables += 1

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.slow
def test_index_links_every_notebook_and_shows_results(smoke_run):
    run_dir, base, _ = smoke_run
    parser = _Links()
    parser.feed((run_dir / "index.html").read_text())
    text = " ".join(parser.text)
    assert "RANDOM WEIGHTS: PIPELINE CHECK, NOT A RESULT" in text
    pages = [link for link in parser.links if not link.startswith("#")]
    assert len(pages) == 2 * 9 and all((run_dir / link).is_file() for link in pages)  # HTML page + notebook
    assert sum(link.endswith(".html") for link in pages) == 9
    anchors = [link[1:] for link in parser.links if link.startswith("#")]
    assert {"synthetic-shapes-random-tiny-results", "synthetic-shapes-random-tiny-attribution",
            "synthetic-shapes-random-tiny-time", "synthetic-shapes-cir-random-tiny-composed",
            "composed-random-tiny-composed", "notebooks"} <= set(anchors)
    assert f"images/{SMOKE_UNREADABLE:06d}.png" in text and "unreadable image(s) left out" in text
    assert "prompt words: 8 of 33 prompt words equal an evaluation label" in text
    assert ic.report.tables.SOLVER_LEGEND in text
    assert parser.images and all((run_dir / src).is_file() for src in parser.images)
    assert any("neighbours" in src for src in parser.images) and any("attributions" in src for src in parser.images)
    assert parser.tables >= 2 and "InDiReCT" in text and "MAP@R" in text
    readme = (run_dir / "README.md").read_text()
    assert "RANDOM WEIGHTS" in readme and "03_evaluate.ipynb" in readme
    copied = list((base / "figures" / "smoke").glob("*neighbours.p*"))
    assert {p.suffix for p in copied} == {".png", ".pdf"}


@pytest.mark.slow
def test_index_captions_say_what_each_figure_shows_and_names_models_as_the_paper(smoke_run):
    run_dir, _, _ = smoke_run
    page = (run_dir / "index.html").read_text()
    figures = re.findall(r"<img src='([^']+)'[^>]*><figcaption>([^<]+)</figcaption>", page)
    assert len(figures) >= 8
    for src, caption in figures:
        said = plots.figure_caption(run_dir / src)
        assert said and caption == f"{Path(src).parent.parent.name}: {html.escape(said)}"  # not the file name
    evaluated = pd.read_csv(_job(run_dir, "03_evaluate") / "runs.csv").model.unique()
    for key in evaluated:  # the time table names models by their display names, not by their keys
        assert f"<td>{html.escape(display_name(key))}</td>" in page
        assert key == display_name(key) or f"<td>{key}</td>" not in page


def _index_of(tmp_path: Path, jobs: dict[str, str]) -> str:
    """The index of a run folder holding a loss-curve figure in each job folder ({job id: notebook})."""
    import matplotlib.pyplot as plt

    results = []
    for job_id, notebook in jobs.items():
        figure = plt.figure()
        plots.save_figure(figure, tmp_path / job_id / "figures" / "loss_curve", formats=("png",))
        plt.close(figure)
        results.append(batch.JobResult(batch.Job(job_id, notebook, {}), "succeeded"))
    from indirect_core.report.run_index import write_index

    return write_index(tmp_path, {"name": "t"}, results).read_text()


def test_the_index_shows_loss_curves_only_where_they_belong(tmp_path):
    indirect_only = _index_of(tmp_path / "a", {"shapes/tiny/02_fit-shape": "02_fit_indirect.ipynb"})
    assert "loss_curve.png" not in indirect_only and "Composed retrieval" not in indirect_only
    both = _index_of(tmp_path / "b", {"shapes/tiny/02_fit-shape": "02_fit_indirect.ipynb",
                                      "composed/tiny/06_train-lincir": "06_train_mapper.ipynb"})
    assert both.count("loss_curve.png") == 1 and "composed/tiny/06_train-lincir/figures/loss_curve.png" in both
    assert "Mapper training" in both and "Composed retrieval" not in both


def _small_plan(tmp_path: Path, **attribution) -> Path:
    plan = {"name": "tiny", "datasets": {"synthetic-shapes": {"notions": ["object colour"],
                                                              "options": {"n_images": 60, "image_size": 64}}},
            "backbones": ["random-tiny"], "models": ["clip", "indirect"], "seeds": 1, "n_components": 8,
            "evaluation": {"n_queries": 1, "top_k": 2}, "attribution": {"samples": 1, **attribution}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


@pytest.mark.slow
def test_failing_notebook_is_reported_and_does_not_stop_the_others(tmp_path):
    plan = _small_plan(tmp_path, image_ids=[999])
    with pytest.raises(batch.BatchFailed, match="04_attribution"):
        batch.run_plan(plan, run_dir=tmp_path / "run", n_jobs=2, data_dir=tmp_path / "data", figures_dir=None,
                       log=lambda _: None)
    states = {json.loads(p.read_text())["job"].rsplit("/", 1)[1]: json.loads(p.read_text())
              for p in (tmp_path / "run").rglob("status.json")}
    assert {k: v["state"] for k, v in states.items()} == {
        "01_cache": "succeeded", "02_fit-object-colour": "succeeded", "03_evaluate": "succeeded",
        "04_attribution": "failed"}
    error = states["04_attribution"]["error"]
    assert error["ename"] == "ConfigError" and "image_ids=[999]" in error["evalue"]
    assert "the dataset has only 60 readable images" in error["evalue"]
    index = (tmp_path / "run" / "index.html").read_text()
    assert "failed" in index and "image_ids=[999]" in index
    # a re-run skips what succeeded and tries the failed job again
    logs: list[str] = []
    with pytest.raises(batch.BatchFailed):
        batch.run_plan(plan, run_dir=tmp_path / "run", n_jobs=2, data_dir=tmp_path / "data", figures_dir=None,
                       log=logs.append)
    assert sum(line.startswith("[skip]") for line in logs) == 3
    assert any(line.startswith("[failed] synthetic-shapes/random-tiny/04_attribution") for line in logs)


@pytest.mark.slow
def test_killed_batch_resumes_only_what_is_missing(tmp_path):
    plan = _small_plan(tmp_path, image_ids=[0])
    command = [sys.executable, "-m", "indirect_core", "report", str(plan), "--jobs", "1", "--runs-dir",
               str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"), "--figures-dir", str(tmp_path / "f")]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first = tmp_path / "runs" / "tiny" / "synthetic-shapes" / "random-tiny" / "01_cache" / "status.json"
    job_folder = first.parent.parent

    def next_notebook_started() -> bool:  # papermill writes a job's notebook as its first cell runs
        return first.is_file() and any(path.parent.name != "01_cache" for path in job_folder.glob("*/*.ipynb"))

    deadline = time.time() + 300
    while time.time() < deadline and not next_notebook_started():
        assert child.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.2)
    assert next_notebook_started(), "the second notebook did not start within 300 s"
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    finished = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("status.json")}
    assert first in finished and len(finished) < 4
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    skipped = [line for line in result.stdout.splitlines() if line.startswith("[skip]")]
    started = [line for line in result.stdout.splitlines() if line.startswith("[start]")]
    assert len(skipped) == len(finished) and len(skipped) + len(started) == 4
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime  # not executed again
    statuses = [json.loads(p.read_text())["state"] for p in (tmp_path / "runs").rglob("status.json")]
    assert statuses == ["succeeded"] * 4
    seconds = json.loads(first.read_text())["seconds"]  # a skipped job's time is its earlier run's, not 0
    assert seconds > 1 and f"| 01_cache | {seconds:.0f} |" in (tmp_path / "runs" / "tiny" / "README.md").read_text()


BAD_PARAMETERS = [
    ("01_cache_embeddings.ipynb", {"dataset": "imagenet-xyz"}, "parameter dataset='imagenet-xyz'"),
    ("02_fit_indirect.ipynb", {"notion": "car model"}, "parameter notion='car model' is not a notion"),
    ("02_fit_indirect.ipynb", {"template": "a photo of a cat", "words": ["red"]}, "parameter template="),
    ("03_evaluate.ipynb", {"n_components": 0}, "parameter n_components=0"),
    ("04_attribution.ipynb", {"notions": ["colour"]}, "parameter notions: ['colour']"),
    ("05_composed_retrieval.ipynb", {"benchmarks": "cirr"}, "parameter benchmarks='cirr' is not a parameter of "
                                                            "notebook 05_composed_retrieval: did you mean benchmark?"),
]


@pytest.mark.slow
def test_bad_parameter_fails_in_the_first_cell(tmp_path):
    """Each bad value stops its notebook in the check cell, naming the parameter (run two kernels at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    from indirect_core.batch.notebook_execution import execute_notebook

    def run(case):
        number, (notebook, parameters, _) = case
        folder = tmp_path / str(number)
        folder.mkdir()
        try:
            execute_notebook(NOTEBOOKS / notebook, folder / notebook, {"backbone": "random-tiny", **parameters},
                             cwd=folder)
        except papermill.PapermillExecutionError as error:
            return error
        return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        errors = list(pool.map(run, enumerate(BAD_PARAMETERS)))
    for (notebook, _, message), error in zip(BAD_PARAMETERS, errors):
        assert error is not None, f"{notebook} ran through with a bad parameter"
        source = nbformat.read(NOTEBOOKS / notebook, as_version=4)
        parameters_cell = next(i for i, c in enumerate(source.cells) if "parameters" in c.metadata.get("tags", []))
        # papermill inserts the injected-parameters cell right after the tagged one: the check cell comes next
        assert error.cell_index == parameters_cell + 2, notebook
        assert error.ename == "ConfigError" and message in error.evalue, (notebook, error.evalue)


def test_committed_notebooks_have_no_outputs_and_a_parameters_cell():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path


def test_plan_validation_names_the_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"datasets": {"synthetic-shapes": {"notions": ["car model"]}}}))
    with pytest.raises(ic.ConfigError, match=r"\['car model'\] not a notion"):
        batch.load_plan(bad)
    bad.write_text(yaml.safe_dump({"datasets": {"synthetic-shapes": {}}, "seeds": 0}))
    with pytest.raises(ic.ConfigError, match="seeds=0"):
        batch.load_plan(bad)
    bad.write_text(yaml.safe_dump({"datasets": {"synthetic-shapes": {}}, "attribution": {"method": "lime"}}))
    with pytest.raises(ic.ConfigError, match="attribution.method='lime'"):
        batch.load_plan(bad)
    with pytest.raises(ic.ConfigError, match="does not exist"):
        batch.load_plan(tmp_path / "missing.yaml")
    jobs = batch.plan_jobs(batch.load_plan(ROOT / "plans" / "demo.yaml"), tmp_path)
    assert [j.id.rsplit("/", 1)[1] for j in jobs] == [
        "01_cache", "02_fit-shape", "02_fit-object-colour", "02_fit-background-colour", "03_evaluate",
        "04_attribution", "05_composed", "06_train-pic2word", "06_train-lincir"]  # composed-demo.yaml included
    assert jobs[5].depends_on == tuple(j.id for j in jobs[1:4])
    assert jobs[6].depends_on == (jobs[7].id, jobs[8].id)


def test_paper_plans_validate_without_the_data(tmp_path, monkeypatch):
    monkeypatch.setenv("INDIRECT_DATA_DIR", str(tmp_path / "empty"))  # check_plan points it at data_dir anyway
    for name in ("backbones", "dimensions", "prompts"):
        text, ready = batch.check_plan(ROOT / "plans" / f"{name}.yaml", run_dir=tmp_path / "runs" / name,
                                       data_dir=tmp_path / "empty")
        assert f"plan {name}: valid" in text and "[MISSING]" in text and not ready
        assert not (tmp_path / "runs").exists()  # nothing ran
    # the command line, once: exit code 0, nothing run, every paper dataset named as missing
    paper = subprocess.run([sys.executable, "-m", "indirect_core", "report", str(ROOT / "plans" / "paper.yaml"),
                            "--check", "--data-dir", str(tmp_path / "empty"), "--runs-dir", str(tmp_path / "runs")],
                           capture_output=True, text=True, timeout=300)
    assert paper.returncode == 0, paper.stderr
    paper = paper.stdout
    assert "plan paper: valid" in paper and not (tmp_path / "runs").exists()
    for dataset in ("synthetic-cars", "cars196", "inshop", "cub200", "movie-posters"):
        assert f"[MISSING] {dataset}" in paper
    assert paper.count("02_fit-") == 13 and "ViT-B/32" in paper
