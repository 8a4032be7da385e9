"""The main job end to end on a small synthetic-shapes with random-tiny, and the CLI's error handling."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

import indirect_core as ic
from indirect_core.report.results import run_study


@pytest.mark.slow
def test_report_end_to_end_marks_random_weights(tiny_backbone, small_shapes, cache_dir, tmp_path):
    out = run_study(dataset="synthetic-shapes", backbone="random-tiny", models=["clip", "indirect", "oracle"],
                     seeds=[0, 1], n_components=16, out=tmp_path / "run", data_root=small_shapes.root,
                     cache_dir=cache_dir, dataset_options={"n_images": 60, "image_size": 64, "seed": 0},
                     progress=False)
    files = {p.name for p in out.iterdir()}
    assert {"runs.csv", "summary.csv", "results.md", "results.tex", "provenance.json"} <= files
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 3 * 3 * 2 and set(runs.notion) == {"shape", "object colour", "background colour"}
    assert (runs.weights == ic.backbone.RANDOM_WEIGHTS_MARKER).all()
    for name in ("results.md", "results.tex", "summary.csv", "provenance.json"):
        assert ic.backbone.RANDOM_WEIGHTS_MARKER in (out / name).read_text().lower(), name
    record = json.loads((out / "provenance.json").read_text())
    assert record["backbone"]["sha256"] == tiny_backbone.weights_sha256
    assert record["dataset"]["n_images"] == 60 and record["seeds"] == [0, 1]
    assert record["prompts"]["object colour"][0] == "a orange shape"
    assert record["packages"]["torch"] and "commit" in record["git"]


def test_cli_reports_bad_input_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "indirect_core", "experiment", "--dataset", "imagenet-xyz",
                             "--backbone", "random-tiny", "--cache-dir", str(tmp_path), "--out", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "error:" in result.stderr and "imagenet-xyz" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "indirect_core", "experiment", "--dataset", "image-folder",
                             "--data-root", str(tmp_path / "missing"), "--backbone", "random-tiny",
                             "--cache-dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and str(tmp_path / "missing") in result.stderr


def test_cli_builds_a_space_for_your_own_folder(tmp_path, cache_dir):
    from PIL import Image

    for label, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        for i in range(4):
            path = tmp_path / "photos" / label / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), tuple(max(0, c - 20 * i) for c in colour)).save(path)
    words = tmp_path / "colours.txt"
    words.write_text("# my colour words\nred\nblue\ngreen\n")
    result = subprocess.run([sys.executable, "-m", "indirect_core", "experiment", "--dataset", "image-folder",
                             "--data-root", str(tmp_path / "photos"), "--backbone", "random-tiny",
                             "--cache-dir", str(cache_dir), "--template", "a {} photo", "--words", str(words),
                             "--models", "clip", "indirect", "--seeds", "1", "--n-components", "3",
                             "--num-workers", "0", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert record["prompts"] == {"label": ["a red photo", "a blue photo", "a green photo"]}
    runs = pd.read_csv(tmp_path / "run" / "runs.csv")
    assert list(runs.model) == ["clip", "indirect"] and runs.notion.eq("label").all()
