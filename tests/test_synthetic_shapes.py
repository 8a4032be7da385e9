"""Synthetic Shapes generation: determinism, exact masks, factor coverage and atomic writes."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from indirect_core.data import synthetic_shapes as ss
from indirect_core._util.errors import ConfigError


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gen") / "shapes"
    return ss.generate_synthetic_shapes(root, n_images=200, image_size=64, seed=3, progress=False)


def test_constants_are_consistent():
    assert len(ss.DRAWN_SHAPES) >= 6
    assert len(ss.SHAPE_VOCABULARY) >= 20
    assert set(ss.DRAWN_SHAPES) <= set(ss.SHAPE_VOCABULARY)
    assert len(set(ss.SHAPE_VOCABULARY)) == len(ss.SHAPE_VOCABULARY)
    assert len(ss.CSS21_COLOURS) == 17
    assert ss.CSS21_COLOURS["orange"] == (255, 165, 0) and ss.CSS21_COLOURS["green"] == (0, 128, 0)
    assert len(ss.OBJECT_COLOURS) >= 8 and len(ss.BACKGROUND_COLOURS) >= 8
    assert set(ss.OBJECT_COLOURS) | set(ss.BACKGROUND_COLOURS) <= set(ss.CSS21_COLOURS)


def test_layout_and_manifest(small):
    assert (small / "generation.json").is_file()
    manifest = pd.read_csv(small / "manifest.csv")
    assert list(manifest.columns) == list(ss.MANIFEST_COLUMNS)
    assert len(manifest) == 200
    assert manifest["image"].iloc[0] == "images/000000.png"
    assert len(list((small / "images").glob("*.png"))) == 200
    assert len(list((small / "masks").glob("*.png"))) == 200
    params = json.loads((small / "generation.json").read_text())
    assert params["n_images"] == 200 and params["image_size"] == 64 and params["seed"] == 3
    assert params["format_version"] == ss.FORMAT_VERSION
    # No temp folders left next to root.
    assert [p.name for p in small.parent.iterdir()] == ["shapes"]


def test_factor_coverage(small):
    manifest = pd.read_csv(small / "manifest.csv")
    assert manifest["shape"].nunique() >= 6
    assert manifest["object_colour"].nunique() >= 8
    assert manifest["background_colour"].nunique() >= 8
    assert (manifest["object_colour"] != manifest["background_colour"]).all()
    assert set(manifest["shape"]) <= set(ss.DRAWN_SHAPES)
    assert manifest["rotation"].between(*ss.ROTATION_RANGE).all()
    assert manifest["size"].between(*ss.SIZE_RANGE).all()
    assert manifest["size"].nunique() > 150  # continuous


def test_pixels_match_mask_exactly(small):
    manifest = pd.read_csv(small / "manifest.csv")
    for row in manifest.head(60).itertuples():
        image = np.asarray(Image.open(small / row.image))
        mask_image = Image.open(small / row.mask)
        assert mask_image.mode == "L" and image.shape == (64, 64, 3)
        mask = np.asarray(mask_image)
        assert set(np.unique(mask)) <= {0, 255}
        inside = mask == 255
        assert inside.sum() > 20, row
        # Fully inside the image: the border rows/columns are background.
        assert not inside[0].any() and not inside[-1].any() and not inside[:, 0].any() and not inside[:, -1].any()
        assert (image[inside] == ss.CSS21_COLOURS[row.object_colour]).all()
        assert (image[~inside] == ss.CSS21_COLOURS[row.background_colour]).all()


def test_same_seed_identical_bytes_other_seed_differs(tmp_path):
    a = ss.generate_synthetic_shapes(tmp_path / "a", n_images=24, image_size=64, seed=7, progress=False)
    b = ss.generate_synthetic_shapes(tmp_path / "b", n_images=24, image_size=64, seed=7, progress=False)
    c = ss.generate_synthetic_shapes(tmp_path / "c", n_images=24, image_size=64, seed=8, progress=False)
    assert _tree_hash(a) == _tree_hash(b)
    assert _tree_hash(a) != _tree_hash(c)


def test_existing_dataset_is_reused_or_rejected(tmp_path, monkeypatch):
    root = ss.generate_synthetic_shapes(tmp_path / "d", n_images=24, image_size=64, seed=0, progress=False)
    before = _tree_hash(root)

    def fail(*args, **kwargs):
        raise AssertionError("should not regenerate")

    monkeypatch.setattr(ss, "_write_dataset", fail)
    assert ss.generate_synthetic_shapes(root, n_images=24, image_size=64, seed=0, progress=False) == root
    assert _tree_hash(root) == before
    with pytest.raises(ConfigError) as info:
        ss.generate_synthetic_shapes(root, n_images=24, image_size=64, seed=1, progress=False)
    assert str(root) in str(info.value) and "seed" in str(info.value) and "delete" in str(info.value)


def test_foreign_folder_is_rejected(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match="generation.json"):
        ss.generate_synthetic_shapes(root, n_images=24, image_size=64, progress=False)
    assert (root / "notes.txt").read_text() == "hello"


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    root = tmp_path / "partial"
    real_render = ss.render
    calls = {"n": 0}

    def flaky_render(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real_render(*args, **kwargs)

    monkeypatch.setattr(ss, "render", flaky_render)
    with pytest.raises(KeyboardInterrupt):
        ss.generate_synthetic_shapes(root, n_images=24, image_size=64, progress=False)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(ss, "render", real_render)
    ss.generate_synthetic_shapes(root, n_images=24, image_size=64, progress=False)
    assert len(pd.read_csv(root / "manifest.csv")) == 24


def test_stale_temp_folder_from_killed_run_is_removed(tmp_path):
    stale = tmp_path / ".shapes.tmp-999999999-abc"  # pid that cannot be alive
    stale.mkdir()
    (stale / "junk.png").write_bytes(b"x")
    ss.generate_synthetic_shapes(tmp_path / "shapes", n_images=24, image_size=64, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes"]


def test_invalid_parameters_name_the_value(tmp_path):
    with pytest.raises(ConfigError, match="n_images=0"):
        ss.generate_synthetic_shapes(tmp_path / "x", n_images=0, progress=False)
    with pytest.raises(ConfigError, match="image_size=8"):
        ss.generate_synthetic_shapes(tmp_path / "x", image_size=8, progress=False)
    assert not (tmp_path / "x").exists()
