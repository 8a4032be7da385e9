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
# One notion per dataset, chosen to cover label-vocabulary prompts (car type, genre), multi-hot attribute
# labels (texture), external word lists (car colour, bird species) and every loader.
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
    logs: list[str] = []
    try:
        run_dir = batch.run_plan(path, run_dir=base / "runs" / "fake-paper", n_jobs=2, data_dir=data,
                                 figures_dir=None, log=logs.append)
    except batch.BatchFailed as failure:
        pytest.fail(f"{failure}\n" + "\n".join(logs))
    return run_dir


@pytest.mark.parametrize("dataset", list(NOTIONS))
def test_every_notebook_runs_on_the_fake_dataset(paper_run, dataset):
    folder = paper_run / dataset / "random-tiny"
    states = {p.parent.name: json.loads(p.read_text())["state"] for p in folder.rglob("status.json")}
    notion_slug = NOTIONS[dataset].replace(" ", "-")
    assert states == {"01_cache": "succeeded", f"02_fit-{notion_slug}": "succeeded", "03_evaluate": "succeeded",
                      "04_attribution": "succeeded"}
    runs = pd.read_csv(folder / "03_evaluate" / "runs.csv")
    assert set(runs.model) == {"clip", "indirect", "oracle"} and runs.notion.eq(NOTIONS[dataset]).all()
    record = json.loads((folder / "03_evaluate" / "provenance.json").read_text())
    assert record["dataset"]["name"] == dataset and record["prompts"][NOTIONS[dataset]]


def test_label_vocabulary_prompts_come_from_the_fake_labels(paper_run):
    record = json.loads((paper_run / "movie-posters" / "random-tiny" / "03_evaluate" / "provenance.json").read_text())
    assert "a poster of a N/A movie" in record["prompts"]["genre"]
    cars = json.loads((paper_run / "cars196" / "random-tiny" / "03_evaluate" / "provenance.json").read_text())
    assert all(p.startswith("a photo of a ") for p in cars["prompts"]["car type"])
