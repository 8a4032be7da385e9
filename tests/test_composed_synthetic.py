"""synthetic-shapes-cir: generation (determinism, queries, subsets, splits, atomic writes), the loader, the
benchmark wiring on planted features, and the three baselines on random-tiny."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import indirect_core as ic
from indirect_core.data import synthetic_shapes as shapes
from indirect_core.composed import (QuerySet, evaluate, load_synthetic_cir, query_features, rank_subsets,
                                    recall_subset_at_k, synthetic_cir_train)
from indirect_core.composed import synthetic as cir
from indirect_core._util.errors import ConfigError

TINY = dict(n_queries=24, n_gallery=60, n_train=20, image_size=64, seed=3)
FACTORS = ("shape", "object_colour", "background_colour", "size_class")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return cir.generate_synthetic_cir(tmp_path_factory.mktemp("cir") / "synthetic-shapes-cir", progress=False,
                                      **TINY)


@pytest.fixture(scope="module")
def tiny(tiny_root) -> QuerySet:
    (query_set,) = load_synthetic_cir(tiny_root, progress=False, **TINY)
    return query_set


def _manifest(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "manifest.csv", keep_default_na=False)


def _queries(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "queries.csv", keep_default_na=False)


def _parse_changes(caption: str) -> dict[str, str]:
    """The factors a caption changes and their new values, read with the templates' grammar."""
    changes = {}
    for part in caption.split(" and "):
        if part in ("is bigger", "is smaller"):
            changes["size_class"] = "large" if part == "is bigger" else "small"
        elif match := re.fullmatch(r"is an? (\w+) instead of an? (\w+)", part):
            changes["shape"] = match.group(1)
            changes["shape_was"] = match.group(2)
        elif match := re.fullmatch(r"has an? (\w+) background", part):
            changes["background_colour"] = match.group(1)
        elif match := re.fullmatch(r"is (\w+)", part):
            changes["object_colour"] = match.group(1)
        else:
            raise AssertionError(f"caption part {part!r} follows no template")
    return changes


# ---------------------------------------------------------------- generation


def test_same_seed_same_bytes_other_seed_differs(tmp_path, tiny_root):
    again = cir.generate_synthetic_cir(tmp_path / "again", progress=False, **TINY)
    other = cir.generate_synthetic_cir(tmp_path / "other", progress=False, **dict(TINY, seed=4))
    for name in ("manifest.csv", "queries.csv", "train_captions.csv", "generation.json"):
        assert (again / name).read_bytes() == (tiny_root / name).read_bytes(), name
    for image in _manifest(tiny_root)["image"].iloc[[0, 5, 61, -1]]:
        assert (again / image).read_bytes() == (tiny_root / image).read_bytes()
    assert (other / "queries.csv").read_bytes() != (tiny_root / "queries.csv").read_bytes()
    assert (other / "manifest.csv").read_bytes() != (tiny_root / "manifest.csv").read_bytes()


def test_every_target_changes_exactly_the_named_factors(tiny_root):
    manifest = _manifest(tiny_root).set_index("name")
    queries = _queries(tiny_root)
    assert len(queries) == TINY["n_queries"]
    assert set(queries["changed"].str.count(r"\+") + 1) == {1, 2}  # one- and two-factor queries both occur
    for q in queries.itertuples():
        reference, target = manifest.loc[q.reference], manifest.loc[q.target]
        changes = _parse_changes(q.caption)
        assert changes.pop("shape_was", reference["shape"]) == reference["shape"]  # "instead of" names the old one
        assert set(changes) == set(q.changed.split("+"))
        for factor in FACTORS:
            expected = changes.get(factor, reference[factor])
            assert target[factor] == expected, (q.query, factor)
            if factor in changes:
                assert reference[factor] != target[factor]
        assert target["object_colour"] != target["background_colour"]
        assert target["role"] == "target" and reference["role"] == "gallery"


def test_subsets_hold_the_target_and_five_one_factor_distractors(tiny_root):
    manifest = _manifest(tiny_root).set_index("name")
    for q in _queries(tiny_root).itertuples():
        members = q.subset.split()
        assert len(members) == 6 and len(set(members)) == 6
        assert q.target in members and q.reference not in members
        target = tuple(manifest.loc[q.target, list(FACTORS)])
        tuples = set()
        for name in members:
            if name == q.target:
                continue
            values = tuple(manifest.loc[name, list(FACTORS)])
            assert sum(a != b for a, b in zip(values, target)) == 1, (q.query, name)
            tuples.add(values)
        assert len(tuples) == 5  # five different distractor tuples
    # The target is not always listed first (ties keep the list order in rank_candidates).
    positions = [q.subset.split().index(q.target) for q in _queries(tiny_root).itertuples()]
    assert len(set(positions)) > 1


def test_gallery_roles_twins_and_images(tiny_root):
    manifest = _manifest(tiny_root)
    test = manifest[manifest["split"] == "test"]
    assert (test["role"] == "gallery").sum() == TINY["n_gallery"]
    assert (test["role"] == "target").sum() == TINY["n_queries"]
    keys = test[list(FACTORS)].apply(tuple, axis=1)
    counts = keys.value_counts()
    by_name = dict(zip(test["name"], keys))
    # Every reference's tuple has a second image (its twin): "the same content" is never a hit.
    assert all(counts[by_name[r]] >= 2 for r in _queries(tiny_root)["reference"])
    for low, high in cir.SIZE_CLASSES.values():
        assert shapes.SIZE_RANGE[0] <= low < high <= shapes.SIZE_RANGE[1]
    sizes = manifest.groupby("size_class")["size"].agg(["min", "max"])
    assert sizes.loc["small", "max"] <= cir.SIZE_CLASSES["small"][1] < cir.SIZE_CLASSES["large"][0] \
        <= sizes.loc["large", "min"]
    nuisances = manifest[["x", "y", "rotation"]].apply(tuple, axis=1)
    assert nuisances.nunique() == len(manifest)  # nuisances are fresh for every image
    for row in manifest.iloc[[0, 70, -1]].itertuples():
        pixels = np.asarray(Image.open(tiny_root / row.image))
        assert pixels.shape == (64, 64, 3)
        assert tuple(pixels[0, 0]) == shapes.CSS21_COLOURS[row.background_colour]
        assert (pixels == shapes.CSS21_COLOURS[row.object_colour]).all(axis=2).sum() > 20


def test_train_split_is_separate_with_one_caption_per_image(tiny_root):
    manifest = _manifest(tiny_root)
    train, captions = synthetic_cir_train(tiny_root, progress=False, **TINY)
    test_names = set(manifest.loc[manifest["split"] == "test", "name"])
    assert len(train) == TINY["n_train"] == len(captions)
    assert not set(train.labels["name"]) & test_names
    (query_set,) = load_synthetic_cir(tiny_root, progress=False, **TINY)
    assert not set(train.image_paths) & set(query_set.images.image_paths)
    assert all(p.is_file() for p in train.image_paths)
    for caption, row in zip(captions, train.labels.itertuples()):
        for word in (row.shape, row.object_colour, row.background_colour, row.size_class):
            assert re.search(rf"\b{word}\b", caption), (caption, row)
    assert "an orange background" in cir.train_caption(
        {"shape": "star", "object_colour": "red", "background_colour": "orange", "size_class": "small"},
        cir.CAPTION_TEMPLATES[0])


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    real_render = shapes.render
    calls = {"n": 0}

    def flaky_render(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real_render(*args, **kwargs)

    monkeypatch.setattr(shapes, "render", flaky_render)
    with pytest.raises(KeyboardInterrupt):
        cir.generate_synthetic_cir(tmp_path / "bench", progress=False, **TINY)
    assert list(tmp_path.iterdir()) == []  # no half-written folder, no temp folder
    monkeypatch.setattr(shapes, "render", real_render)
    root = cir.generate_synthetic_cir(tmp_path / "bench", progress=False, **TINY)
    assert len(_queries(root)) == TINY["n_queries"]


def test_folder_without_marker_or_with_other_parameters_is_refused(tmp_path, tiny_root, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("should not regenerate")

    monkeypatch.setattr(cir, "_write_benchmark", fail)
    assert cir.generate_synthetic_cir(tiny_root, progress=False, **TINY) == tiny_root  # reused as it is
    with pytest.raises(ConfigError) as info:
        load_synthetic_cir(tiny_root, progress=False, **dict(TINY, n_queries=25))
    message = str(info.value)
    assert str(tiny_root) in message and "n_queries=24 (wanted 25)" in message and "delete the folder" in message
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "manifest.csv").write_text("name\n")  # what a copy without generation.json looks like
    with pytest.raises(ConfigError, match="no complete synthetic-shapes-cir dataset \\(no generation.json\\)"):
        cir.generate_synthetic_cir(killed, progress=False, **TINY)


def test_parameters_roots_and_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("INDIRECT_DATA_DIR", str(tmp_path))
    assert cir.default_synthetic_cir_root() == tmp_path / "synthetic-shapes-cir"
    assert cir.default_synthetic_cir_root(**TINY) == tmp_path / "synthetic-shapes-cir-q24-g60-t20-px64-seed3"
    images, queries, captions = cir.plan_benchmark()  # the default, planned without rendering
    test = [r for r in images if r["split"] == "test"]
    assert len(queries) >= 500 and len(test) >= 2000 and len(captions) == 2000
    with pytest.raises(ConfigError, match=r"n_gallery=10 must be an integer >= 24 \(at least n_queries \(24\)"):
        cir.generate_synthetic_cir(tmp_path / "x", n_queries=24, n_gallery=10, progress=False)
    with pytest.raises(ConfigError, match="image_size=8"):
        cir.generate_synthetic_cir(tmp_path / "x", image_size=8, progress=False)
    with pytest.raises(ConfigError, match="split='train' has no queries.*synthetic_cir_train"):
        load_synthetic_cir(tmp_path / "x", split="train")
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- loader and wiring


def test_loader_query_set(tiny, tiny_root):
    manifest = _manifest(tiny_root)
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    assert tiny.benchmark == "synthetic-shapes-cir" and tiny.split == "test" and tiny.exclude_reference
    assert len(tiny) == TINY["n_queries"] and len(tiny.images) == len(test)
    assert list(tiny.images.labels["name"]) == list(test["name"])
    assert all(len(c) == 1 for c in tiny.captions) and len(tiny.query_ids) == len(tiny)
    assert all(len(c) == 6 for c in tiny.candidates)
    assert list(tiny.info["changed"]) == list(_queries(tiny_root)["changed"])
    keys = test[list(FACTORS)].apply(tuple, axis=1)
    for i in range(len(tiny)):
        target = int(tiny.info["target"][i])
        expected = sorted(np.flatnonzero(keys == keys[target]))
        assert list(tiny.targets[i]) == expected and target in tiny.targets[i]
        assert int(tiny.reference[i]) not in tiny.targets[i]


def planted_features(labels: pd.DataFrame, noise: float = 0.01, seed: int = 0) -> torch.Tensor:
    """One-hot blocks per factor (8 + 10 + 10 + 2) plus small noise: a perfect factor encoder."""
    blocks = [(labels[f].to_numpy()[:, None] == np.array(cir.factor_values(f))[None, :]).astype(np.float32)
              for f in FACTORS]
    features = torch.from_numpy(np.concatenate(blocks, axis=1))
    return features + noise * torch.randn(features.shape, generator=torch.Generator().manual_seed(seed))


def test_planted_features_retrieve_every_target(tiny, tiny_backbone):
    images = planted_features(tiny.images.labels)
    # The composed query that knows the answer: the target's factor tuple, encoded like the images.
    composed = planted_features(tiny.images.labels.iloc[tiny.info["target"]], seed=1)
    result = evaluate(tiny, images, composed)
    assert list(result) == ["R@1", "R@5", "R@10", "R@50", "R_subset@1", "R_subset@2", "R_subset@3"]
    assert result["R@1"] == 1.0 and result["R_subset@1"] == 1.0
    # Image-only finds the reference's twin first (the reference itself is excluded): never a hit at R@1.
    image_only = query_features("image-only", tiny_backbone, tiny, images)
    assert evaluate(tiny, images, image_only)["R@1"] == 0.0
    single = np.flatnonzero(tiny.info["n_changed"] == 1)
    ranked = rank_subsets(tiny, images, image_only)[single]
    # On one-factor queries the subset holds an image of the reference's tuple, which image-only ranks first.
    assert recall_subset_at_k(ranked, [tiny.targets[i] for i in single], ks=(1,)) == {"R_subset@1": 0.0}


def test_baselines_on_random_tiny(tiny, tiny_backbone, cache_dir):
    # The first 8 queries over their reference images only (CLIP features of 8 images, not the whole gallery).
    n = 8
    images = tiny.images.subset(tiny.reference[:n])
    small = QuerySet(benchmark=tiny.benchmark, split="test", subset="", images=images, reference=np.arange(n),
                     captions=tiny.captions[:n], targets=((0,),) * n, gallery=np.arange(n))
    features = ic.image_features(tiny_backbone, images, cache_dir=cache_dir, progress=False)
    raw = features.features
    image = query_features("image-only", tiny_backbone, small, features)
    text = query_features("text-only", tiny_backbone, small, features)
    both = query_features("image + text", tiny_backbone, small, features)
    for rows in (image, text, both):
        assert rows.shape == (n, tiny_backbone.embed_dim) and rows.dtype == torch.float32
        assert torch.allclose(rows.norm(dim=1), torch.ones(n), atol=1e-5)
    expected_image = raw / raw.norm(dim=1, keepdim=True)
    expected_text = tiny_backbone.encode_texts([c[0] for c in small.captions])
    expected_both = expected_image + expected_text
    expected_both = expected_both / expected_both.norm(dim=1, keepdim=True)
    assert torch.allclose(image, expected_image, atol=1e-6)
    assert torch.allclose(text, expected_text, atol=1e-6)
    assert torch.allclose(both, expected_both, atol=1e-6)
    assert not torch.allclose(both, expected_image, atol=1e-2)  # the text really moves the query
    # Two captions per query (FashionIQ) are joined with " and " for the text.
    two = QuerySet(benchmark="fashioniq", split="val", subset="dress", images=images, reference=np.arange(2),
                   captions=(("is red ", "has long sleeves"), ("is blue", "is shorter")), targets=((0,), (1,)),
                   gallery=np.arange(n))
    joined = tiny_backbone.encode_texts(["is red and has long sleeves", "is blue and is shorter"])
    assert torch.allclose(query_features("text-only", tiny_backbone, two, raw), joined, atol=1e-6)
    with pytest.raises(ConfigError, match="unknown composed-retrieval method 'pic2word'"):
        query_features("pic2word", tiny_backbone, small, raw)
    with pytest.raises(ConfigError, match="has 7 rows; expected 8"):
        query_features("image-only", tiny_backbone, small, raw[:7])
