"""The run folder's front page (report.run_index.write_index) on a small run folder made here by hand: two
sections in plan order, the result table computed from the planted runs.csv, the figures each notebook may show,
the skipped images, the time per job and model, and a failed job with its error."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from indirect_core import batch
from indirect_core.core.metrics import METRICS
from indirect_core.report.plots import CAPTION_KEY
from indirect_core.report.run_index import write_index

EVALUATE = "shapes/tiny/03_evaluate"
# MAP@R of each (model, seed); every other metric is 0.25 for every row.
PLANTED = {("clip", 0): 0.4, ("clip", 1): 0.6, ("indirect", 0): 0.7, ("indirect", 1): 0.9}
FIT_SECONDS = {("clip", 0): 0.5, ("clip", 1): 1.5, ("indirect", 0): 10.0, ("indirect", 1): 14.0}


def _png(path: Path, caption: str | None = None) -> None:
    """A 400x200 PNG (shown at half its pixels), with a saved caption when given, and its PDF sibling."""
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngInfo()
    if caption:
        info.add_text(CAPTION_KEY, caption)
    Image.new("RGB", (400, 200), "white").save(path, pnginfo=info)
    path.with_suffix(".pdf").write_bytes(b"%PDF-1.4 stand-in")


def _job(run_dir: Path, job_id: str, notebook: str, state: str = "succeeded", seconds: float = 10.0,
         error: dict | None = None) -> batch.JobResult:
    (run_dir / job_id).mkdir(parents=True, exist_ok=True)
    return batch.JobResult(batch.Job(job_id, notebook, {"backbone": "random-tiny", "n_components": 8,
                                                        "repetitions": 2}), state, seconds, error or {})


@pytest.fixture
def run(tmp_path) -> tuple[Path, list[batch.JobResult]]:
    """A run of two sections: shapes/tiny (cache, evaluation, a failed attribution) and cars/tiny (cache)."""
    run_dir = tmp_path / "run"
    results = [
        _job(run_dir, "shapes/tiny/01_cache", "01_cache_embeddings.ipynb", seconds=12),
        _job(run_dir, EVALUATE, "03_evaluate.ipynb", seconds=30),
        _job(run_dir, "shapes/tiny/04_attribution", "04_attribution.ipynb", state="failed", seconds=4,
             error={"ename": "ConfigError", "evalue": "image_ids=[999] but only 60 images", "cell_index": 3}),
        _job(run_dir, "cars/tiny/01_cache", "01_cache_embeddings.ipynb", seconds=7),
    ]
    _png(run_dir / "shapes/tiny/01_cache/figures/samples_shape.png", caption="one image per shape")
    _png(run_dir / "shapes/tiny/01_cache/figures/extra_strip.png")  # not a figure the index shows
    _png(run_dir / EVALUATE / "figures/metric_bars.png")
    _png(run_dir / EVALUATE / "figures/loss_curve_indirect.png")  # notebook 02's kind: stays on its page
    _png(run_dir / "shapes/tiny/04_attribution/figures/attributions_shape.png")
    rows = [{"notion": "shape", "model": model, "seed": seed, **{m: 0.25 for m in METRICS},
             "mean_average_precision_at_r": value, "note": "", "fit_seconds": FIT_SECONDS[(model, seed)],
             "evaluate_seconds": 1.0} for (model, seed), value in PLANTED.items()]
    pd.DataFrame(rows).to_csv(run_dir / EVALUATE / "runs.csv", index=False)
    (run_dir / EVALUATE / "provenance.json").write_text(json.dumps(
        {"settings": {"skipped_images": {"images/000007.png": "cannot identify image file"}}}))
    return run_dir, results


def _sections(markdown: str) -> list[str]:
    return re.findall(r"^## (.+)$", markdown, re.M)


def test_sections_follow_the_plan_order_with_their_contents(run):
    run_dir, results = run
    page = write_index(run_dir, {"name": "hand"}, results).read_text()
    markdown = (run_dir / "README.md").read_text()
    assert _sections(markdown) == ["shapes/tiny", "cars/tiny", "Notebooks"]
    anchors = re.findall(r"href='#([^']+)'", page)
    assert anchors == ["shapes-tiny", "shapes-tiny-results", "shapes-tiny-figures", "shapes-tiny-attribution",
                       "shapes-tiny-time", "cars-tiny", "cars-tiny-time", "notebooks"]
    assert all(f"id='{anchor}'" in page for anchor in anchors)


def test_the_result_table_is_computed_from_the_runs(run):
    run_dir, results = run
    write_index(run_dir, {"name": "hand"}, results)
    shapes = (run_dir / "README.md").read_text().split("## shapes/tiny")[1].split("## cars/tiny")[0]
    table = shapes.split("| model |")[1].split("\n\n")[0]  # the shape notion's rows
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in table.splitlines()
            if line.startswith("| CLIP") or line.startswith("| InDiReCT")}
    position = list(METRICS).index("mean_average_precision_at_r")
    assert rows["CLIP"][position].strip(" |") == "0.500 ± 0.100"  # mean and population std of 0.4 and 0.6
    assert rows["InDiReCT"][position].strip(" |") == "**0.800** ± 0.100"  # the best zero-shot mean, bold
    assert "1 unreadable image(s) left out" in shapes and "`images/000007.png`: cannot identify image file" in shapes
    # where the time went: seconds per job, and fit seconds per model summed over seeds
    assert "| 03_evaluate | 30 |" in shapes and "| 04_attribution | 4 |" in shapes
    assert "| CLIP | 2.0 | 2.0 |" in shapes and "| InDiReCT | 24.0 | 2.0 |" in shapes


def test_each_notebook_shows_only_its_kind_of_figure(run, tmp_path):
    run_dir, results = run
    page = write_index(run_dir, {"name": "hand"}, results, figures_dir=tmp_path / "figures").read_text()
    shown = re.findall(r"<img src='([^']+)'", page)
    assert shown == ["shapes/tiny/01_cache/figures/samples_shape.png", f"{EVALUATE}/figures/metric_bars.png",
                     "shapes/tiny/04_attribution/figures/attributions_shape.png"]
    assert "alt='01_cache: one image per shape'" in page  # the saved caption, not the file name
    assert "alt='03_evaluate: metric bars'" in page  # no saved caption: the file name in words
    assert "style='width:200px'" in page  # 400 px at 300 dpi shown at 150 px per inch
    copied = sorted(p.name for p in (tmp_path / "figures" / "hand").iterdir())
    assert copied == sorted(f"{job}_{name}.{suffix}" for job, name in (
        ("shapes_tiny_01_cache", "samples_shape"), ("shapes_tiny_03_evaluate", "metric_bars"),
        ("shapes_tiny_04_attribution", "attributions_shape")) for suffix in ("png", "pdf"))


def test_a_failed_job_is_counted_and_shown_with_its_error(run):
    run_dir, results = run
    page = write_index(run_dir, {"name": "hand"}, results).read_text()
    assert "<span class='failed'>1 failed or blocked</span>" in page
    row = next(line for line in (run_dir / "README.md").read_text().splitlines()
               if line.startswith("| shapes/tiny/04_attribution |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:3] == ["failed", "4"]
    assert cells[-1] == "ConfigError: image_ids=[999] but only 60 images (cell 3)"
    states = re.findall(r"<td class='(ok|failed)'>(\w+)</td>", page)
    assert states == [("ok", "succeeded"), ("ok", "succeeded"), ("failed", "failed"), ("ok", "succeeded")]


def test_indirect_cir_tables_follow_the_composed_results(tmp_path):
    """A notebook-05 job with InDiReCT-CIR's files: the index shows its prompts, its routing accuracy and the
    scores per changed factor (best per block in bold), and the settings name its solver and k."""
    run_dir = tmp_path / "run"
    job_id = "synthetic-shapes-cir/tiny/05_composed"
    result = batch.JobResult(batch.Job(job_id, "05_composed_retrieval.ipynb", {
        "backbone": "random-tiny", "methods": ["image + text", "notion-composed"], "solver": "indirect",
        "n_components": 32}), "succeeded", 5.0, {})
    folder = run_dir / job_id
    folder.mkdir(parents=True)
    keys = {"benchmark": "synthetic-shapes-cir", "split": "test", "subset": ""}
    pd.DataFrame([{**keys, "method": m, "n_queries": 10, "R@1": r, "R_subset@1": 0.5}
                  for m, r in (("image + text", 0.1), ("InDiReCT-CIR", 0.2))]).to_csv(folder / "results.csv",
                                                                                       index=False)
    pd.DataFrame([{**keys, "method": m, "changed": c, "n_queries": n, "R@1": r, "R@5": 0.5, "R@10": 0.6,
                   "R@50": 0.9, "R_subset@1": 0.4}
                  for m, c, n, r in (("image + text", "shape", 6, 0.5), ("InDiReCT-CIR", "shape", 6, 0.25),
                                     ("image + text", "shape+size_class", 4, 0.0),
                                     ("InDiReCT-CIR", "shape+size_class", 4, 0.75))]).to_csv(
        folder / "results_by_changed.csv", index=False)
    pd.DataFrame([{"changed": c, "n_queries": n, "routing accuracy": a, "method": "InDiReCT-CIR", **keys}
                  for c, n, a in (("all", 10, 0.6), ("shape", 6, 1.0), ("shape+size_class", 4, 0.0))]).to_csv(
        folder / "routing.csv", index=False)
    pd.DataFrame([{"notion": "size", "factor": "size_class", "prompts": 59, "first prompts": "a large shape | a big "
                   "shape | a ample shape", "words": "size_words", "solver": "InDiReCT", "dimensions": 32,
                   "overlap": "2 of 59 prompt words equal an evaluation label (2 of 2 labels)", **keys}]).to_csv(
        folder / "notions.csv", index=False)
    page = write_index(run_dir, {"name": "hand"}, [result]).read_text()
    markdown = (run_dir / "README.md").read_text()
    assert "InDiReCT-CIR: solver indirect, k=32 per notion" in page
    for text in ("InDiReCT-CIR's notion spaces", "a large shape | a big shape", "Routing accuracy",
                 "By changed factor(s)", "changed: shape + size_class"):
        assert text in page, text
    assert "| shape + size_class | 4 | 0.00 |" in markdown and "| all | 10 | 60.00 |" in markdown
    block = markdown.split("changed: shape + size_class")[1]
    assert "| InDiReCT-CIR | **75.00** |" in block and "| image + text | 0.00 |" in block
    verdict = ("R@1, the best method per changed factor(s), as measured: changed shape: image + text best (50.00); "
               "next InDiReCT-CIR (25.00). changed shape + size_class: InDiReCT-CIR best (75.00); next image + text "
               "(0.00).")
    assert verdict in markdown and html.escape(verdict) in page


def test_the_index_states_the_cross_notion_and_mask_share_verdicts_as_measured(run):
    """A planted matrix where the shape space wins its column but loses to CLIP on object colour, and mask shares
    where the background-colour space looks at the object more than the shape space: the index says both."""
    run_dir, results = run
    pd.DataFrame({"shape": [0.6, 0.2, 0.3], "object colour": [0.1, 0.2, 0.4]},
                 index=pd.Index(["shape", "object colour", "CLIP"], name="space fitted for")).to_csv(
        run_dir / EVALUATE / "cross_notion.csv")
    attribution = run_dir / "shapes/tiny/04_attribution"
    pd.DataFrame([{"space": s, "image": i, "mask_share": v, "object_area": 0.1}
                  for s, values in (("shape", (0.3, 0.5)), ("background colour", (0.6, 0.6)))
                  for i, v in enumerate(values)]).to_csv(attribution / "mask_share.csv", index=False)
    markdown = (write_index(run_dir, {"name": "hand"}, results).parent / "README.md").read_text()
    assert ("shape: its own space is the best space on its labels (MAP@R 0.600); it beats the CLIP features "
            "(0.300). object colour: its own space is the best space on its labels (MAP@R 0.200); it does not beat "
            "the CLIP features (0.400).") in markdown
    assert ("Mean over 2 image(s), object area 10.0 %: shape: 40.0 % of the attribution inside the object (more "
            "than a uniform map's 10.0 %). background colour: 60.0 % of the attribution inside the object (more than "
            "a uniform map's 10.0 %). The paper expects the background-colour space to look less at the object "
            "than the other notion spaces; here it does not.") in markdown
