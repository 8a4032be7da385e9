"""Shared fixtures: a random-tiny CLIP loaded through clip.load(path), and a small synthetic-shapes copy.

Numbers from random weights are pipeline checks, never results: no test relies on them being meaningful.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(2)


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
