"""Dataset loading: synthetic-shapes via the registry, user folders and CSVs, subset and identity."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from indirect_core.data import datasets as ds
from indirect_core.data.datasets.user import load_plain_folder
from indirect_core._util.errors import ConfigError, DatasetError


def _png(path: Path, colour=(255, 0, 0), size=8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)
    return path


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> ds.Dataset:
    root = tmp_path_factory.mktemp("data") / "synthetic-shapes"
    return ds.load_dataset("synthetic-shapes", root=root, n_images=30, image_size=64, seed=0, progress=False)


def test_registry_lists_builtins_and_rejects_unknown():
    assert {"synthetic-shapes", "image-folder", "image-csv"} <= set(ds.available_datasets())
    with pytest.raises(ConfigError) as info:
        ds.load_dataset("imagenet-xyz")
    assert "imagenet-xyz" in str(info.value) and "synthetic-shapes" in str(info.value)
    with pytest.raises(ConfigError, match="colour_count"):
        ds.load_dataset("synthetic-shapes", colour_count=3)
    with pytest.raises(ConfigError, match="root="):
        ds.load_dataset("image-folder")


def test_synthetic_shapes_dataset(shapes):
    assert shapes.name == "synthetic-shapes" and len(shapes) == 30
    assert all(p.is_absolute() and p.is_file() for p in shapes.image_paths)
    assert shapes.masks is not None and all(m.is_file() for m in shapes.masks)
    assert {"shape", "object_colour", "background_colour", "size", "x", "y", "rotation"} <= set(shapes.labels)
    assert isinstance(shapes.labels.index, pd.RangeIndex)
    assert shapes.file_list()[:2] == ["images/000000.png", "images/000001.png"]
    assert shapes.identity()["n_images"] == 30


def test_default_root_follows_env_and_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv(ds.DATA_DIR_ENV, str(tmp_path))
    assert ds.default_synthetic_root() == tmp_path / "synthetic-shapes"
    assert ds.default_synthetic_root(n_images=40, seed=2, image_size=64) != tmp_path / "synthetic-shapes"
    data = ds.load_dataset("synthetic-shapes", n_images=24, image_size=64, seed=1, progress=False)
    assert data.root.parent == tmp_path and len(data) == 24
    monkeypatch.delenv(ds.DATA_DIR_ENV)
    monkeypatch.chdir(tmp_path)
    assert ds.default_synthetic_root() == tmp_path / "data" / "synthetic-shapes"


def test_subset_by_indices_and_mask(shapes):
    sub = shapes.subset([5, 2, 9])
    assert sub.image_paths == (shapes.image_paths[5], shapes.image_paths[2], shapes.image_paths[9])
    assert sub.masks == (shapes.masks[5], shapes.masks[2], shapes.masks[9])
    assert list(sub.labels.index) == [0, 1, 2]
    assert sub.labels["shape"].tolist() == shapes.labels["shape"].iloc[[5, 2, 9]].tolist()
    keep = np.zeros(len(shapes), dtype=bool)
    keep[[1, 3]] = True
    assert shapes.subset(keep).file_list() == [shapes.file_list()[1], shapes.file_list()[3]]
    assert len(shapes.subset([])) == 0
    with pytest.raises(ConfigError, match="30"):
        shapes.subset([30])
    with pytest.raises(ConfigError, match="boolean"):
        shapes.subset(np.ones(3, dtype=bool))


def test_identity_tracks_file_sizes_and_list(tmp_path):
    for i in range(3):
        _png(tmp_path / "imgs" / "a" / f"{i}.png", colour=(i, 0, 0))
    data = ds.load_image_folder(tmp_path / "imgs")
    first = data.identity()
    assert first == ds.load_image_folder(tmp_path / "imgs").identity()
    assert data.subset([0, 1]).identity()["files_sha256"] != first["files_sha256"]
    _png(tmp_path / "imgs" / "a" / "0.png", size=32)  # same name, different size
    assert data.identity()["files_sha256"] != first["files_sha256"]
    (tmp_path / "imgs" / "a" / "1.png").unlink()
    with pytest.raises(DatasetError, match="1.png"):
        data.identity()


def test_image_folder_loader(tmp_path):
    root = tmp_path / "pets"
    _png(root / "dog" / "b.PNG")
    _png(root / "dog" / "a.png")
    _png(root / "cat" / "z.jpeg")
    (root / "cat" / "readme.txt").write_text("not an image")
    data = ds.load_dataset("image-folder", root=root)
    assert data.name == "pets"
    assert data.file_list() == ["cat/z.jpeg", "dog/a.png", "dog/b.PNG"]
    assert data.labels["label"].tolist() == ["cat", "dog", "dog"]
    assert data.masks is None


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetError) as info:
        ds.load_image_folder(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value) and "root=" in str(info.value)
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    _png(tmp_path / "empty" / "loose.png")
    with pytest.raises(DatasetError) as info:
        ds.load_image_folder(tmp_path / "empty")
    message = str(info.value)
    assert str(tmp_path / "empty") in message and ".jpg" in message and ".webp" in message
    assert "sub-folder" in message


def test_image_csv_loader(tmp_path):
    _png(tmp_path / "img" / "one.png")
    absolute = _png(tmp_path / "elsewhere" / "two.png").absolute()
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"path": ["img/one.png", str(absolute)], "colour": ["red", "NA"], "kind": ["a", "b"]}).to_csv(
        csv, index=False)
    data = ds.load_image_csv(csv)
    assert data.name == "labels" and data.image_paths[0] == tmp_path / "img" / "one.png"
    assert data.image_paths[1] == absolute
    assert list(data.labels.columns) == ["colour", "kind"]
    assert data.labels["colour"].tolist() == ["red", "NA"]  # kept as text, not NaN
    assert data.file_list() == ["img/one.png", "elsewhere/two.png"]
    only = ds.load_dataset("image-csv", root=tmp_path, label_columns=["kind"], name="mine")
    assert only.name == "mine" and list(only.labels.columns) == ["kind"]


def test_image_csv_errors(tmp_path):
    _png(tmp_path / "one.png")
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"file": ["one.png"], "colour": ["red"]}).to_csv(csv, index=False)
    with pytest.raises(DatasetError) as info:
        ds.load_image_csv(csv)
    assert "'path'" in str(info.value) and "file, colour" in str(info.value)
    with pytest.raises(DatasetError) as info:
        ds.load_image_csv(csv, path_column="file", label_columns=["shape"])
    assert "'shape'" in str(info.value) and "file, colour" in str(info.value)
    pd.DataFrame({"path": ["one.png", "gone.png"], "colour": ["red", "blue"]}).to_csv(csv, index=False)
    with pytest.raises(DatasetError, match="gone.png"):
        ds.load_image_csv(csv)
    with pytest.raises(DatasetError, match="missing.csv"):
        ds.load_image_csv(tmp_path / "missing.csv")


def test_image_folder_takes_every_depth_and_tiff_and_lists_the_rest(image_zoo):
    data = ds.load_dataset("image-folder", root=image_zoo.root)
    labelled = (set(image_zoo.expected) | set(image_zoo.unreadable)) - {"loose.png"}
    assert data.file_list() == sorted(labelled)  # decoding is the cache's business: broken files are listed there
    assert "nested/one/two/deep.png" in data.file_list() and "cmyk/print.tiff" in data.file_list()
    assert data.labels["label"].tolist() == [f.split("/")[0] for f in data.file_list()]
    assert set(data.passed_over) == set(image_zoo.passed_over) | {"loose.png"}
    for relative, word in image_zoo.passed_over.items():
        assert word in data.passed_over[relative], relative
    assert "not in a label sub-folder" in data.passed_over["loose.png"]
    assert data.subset([0]).passed_over == data.passed_over


def test_plain_folder_lists_hidden_and_linked_folders_and_resolves_its_root(tmp_path):
    _png(tmp_path / "photos" / "a" / "b" / "c" / "deep.JPG")
    _png(tmp_path / "photos" / ".git" / "objects.png")
    _png(tmp_path / "elsewhere" / "far.png")
    (tmp_path / "photos" / "far").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "photos" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "route").symlink_to(tmp_path / "photos", target_is_directory=True)
    data = load_plain_folder(tmp_path / "route" / ".." / "route")
    assert data.root == (tmp_path / "photos").resolve() and data.file_list() == ["a/b/c/deep.JPG"]
    assert data.passed_over == {
        ".git/": "hidden folder (not scanned)",
        "far/": f"symlink to the folder {(tmp_path / 'elsewhere').resolve()} (not followed): add that folder itself",
        "dangling.png": "broken symlink (its target does not exist)"}
