"""Shared fixtures: a random-tiny CLIP loaded through clip.load(path), and a small synthetic-shapes copy.

Numbers from random weights are pipeline checks, never results: no test relies on them being meaningful.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# The suite runs at the thread count the caller sets (OMP_NUM_THREADS=1 make test checks one thread), default 2.
os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One cache folder for the whole session (random-tiny checkpoint, feature shards)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def tiny_backbone(cache_dir):
    """random-tiny: a small clip.model.CLIP with a fixed seed, saved as a state dict, loaded by clip.load."""
    import indirect_core as ic

    return ic.load_backbone("random-tiny", cache_dir=cache_dir)


@pytest.fixture(scope="session")
def small_shapes(tmp_path_factory):
    """A 60-image synthetic-shapes dataset (64 px) generated into a temp folder."""
    import indirect_core as ic

    root = tmp_path_factory.mktemp("data") / "synthetic-shapes"
    return ic.load_dataset("synthetic-shapes", root=root, n_images=60, image_size=64, seed=0, progress=False)


@pytest.fixture(autouse=True)
def _offline_clip_dir(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache/clip or the network from tests: CLIP's weight folder is empty."""
    monkeypatch.setenv("INDIRECT_CLIP_DIR", str(tmp_path / "clip-weights"))
    monkeypatch.delenv("INDIRECT_CLIP_CHECKPOINT", raising=False)


SMOKE_UNREADABLE = 7
"""Index of the smoke data's image that is overwritten with bytes no decoder reads (on_error: skip)."""


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """plans/smoke.yaml (every notebook, random-tiny, 60 small images of which one is unreadable, with
    on_error: skip) run once for the whole session: (run folder, base folder, batch log lines)."""
    import yaml

    import indirect_core as ic
    from indirect_core import batch

    root = Path(__file__).resolve().parents[1]
    base = tmp_path_factory.mktemp("batch")
    data = ic.load_dataset("synthetic-shapes", root=base / "data" / "synthetic-shapes-n60-px64-seed0",
                           n_images=60, image_size=64, seed=0, progress=False)
    data.image_paths[SMOKE_UNREADABLE].write_bytes(b"this is not an image")
    plan = yaml.safe_load((root / "plans" / "smoke.yaml").read_text())
    plan["on_error"] = "skip"
    plan["include"] = [str(root / "plans" / name) for name in plan.get("include", [])]  # the copy lives elsewhere
    (base / "smoke.yaml").write_text(yaml.safe_dump(plan))
    logs: list[str] = []
    run_dir = batch.run_plan(base / "smoke.yaml", run_dir=base / "runs" / "smoke", n_jobs=2,
                             data_dir=base / "data", figures_dir=base / "figures", log=logs.append)
    return run_dir, base, logs
