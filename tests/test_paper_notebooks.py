"""Each notebook runs through papermill on a tiny fake copy of each paper dataset (random-tiny CLIP)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import test_paper_datasets as fake
from indirect_core import batch

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # every notebook through papermill on five fake datasets

# One notion per dataset, chosen to cover label-vocabulary prompts (car type, genre), multi-hot attribute
# labels (texture), external word lists (car colour, bird species) and every loader. Notebooks 01 and 03 (which
# load and label the data) run on every dataset; 02 and 04, which only need the prompts and a few images, run on
# CUB here and on synthetic-shapes in the smoke run.
FULL = "cub200"
NOTIONS = {"synthetic-cars": "car colour", "cars196": "car type", "inshop": "texture", "cub200": "bird species",
           "movie-posters": "genre"}


def _fake_cub(root: Path) -> None:
    for index, folder in enumerate(fake.CUB_CLASS_FOLDERS, start=1):
        prefix = fake._stem_prefix(folder.split(".", 1)[1])
        fake._image(root / "images" / folder / f"{prefix}_0001_{index * 1000 + 1}.jpg")


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("paper")
    data = base / "data"
    fake._make_synthetic_cars(data / "synthetic-cars")
    fake._make_cars196(data / "cars196")
    fake._make_inshop(data / "inshop")
    _fake_cub(data / "cub200")
    fake._make_movie_posters(data / "movie-posters")
    plan = {"name": "fake-paper", "datasets": {name: {"notions": [notion]} for name, notion in NOTIONS.items()},
            "backbones": ["random-tiny"], "models": ["clip", "indirect", "oracle"], "seeds": 1, "n_components": 4,
            "evaluation": {"n_queries": 1, "top_k": 2},
            "attribution": {"method": "smoothgrad", "samples": 1, "image_ids": [0]}}
    path = base / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    run_dir = base / "runs" / "fake-paper"
    jobs = [job for job in batch.plan_jobs(batch.load_plan(path), run_dir.resolve(), data_dir=data)
            if job.id.startswith(FULL) or job.notebook.startswith(("01", "03"))]
    logs: list[str] = []
    results = batch.run_jobs(jobs, run_dir, n_jobs=2, data_dir=data, log=logs.append)
    failed = [r for r in results if r.state != "succeeded"]
    if failed:
        pytest.fail(f"{[(r.job.id, r.error) for r in failed]}\n" + "\n".join(logs))
    return run_dir


@pytest.mark.parametrize("dataset", list(NOTIONS))
def test_every_notebook_runs_on_the_fake_dataset(paper_run, dataset):
    folder = paper_run / dataset / "random-tiny"
    states = {p.parent.name: json.loads(p.read_text())["state"] for p in folder.rglob("status.json")}
    notion_slug = NOTIONS[dataset].replace(" ", "-")
    expected = {"01_cache": "succeeded", "03_evaluate": "succeeded"}
    if dataset == FULL:
        expected.update({f"02_fit-{notion_slug}": "succeeded", "04_attribution": "succeeded"})
    assert states == expected
    runs = pd.read_csv(folder / "03_evaluate" / "runs.csv")
    assert set(runs.model) == {"clip", "indirect", "oracle"} and runs.notion.eq(NOTIONS[dataset]).all()
    record = json.loads((folder / "03_evaluate" / "provenance.json").read_text())
    assert record["dataset"]["name"] == dataset and record["prompts"][NOTIONS[dataset]]


def test_label_vocabulary_prompts_come_from_the_fake_labels(paper_run):
    record = json.loads((paper_run / "movie-posters" / "random-tiny" / "03_evaluate" / "provenance.json").read_text())
    assert "a poster of a N/A movie" in record["prompts"]["genre"]
    cars = json.loads((paper_run / "cars196" / "random-tiny" / "03_evaluate" / "provenance.json").read_text())
    assert all(p.startswith("a photo of a ") for p in cars["prompts"]["car type"])
