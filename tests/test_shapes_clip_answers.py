"""Tests that know the answer, on the shipped shapes-clip and a freshly generated held-out split: zero-shot
accuracy per factor; each notion's InDiReCT space (the authors' procedure) beats the CLIP features on its own
labels; the cross-notion diagonal is the largest cell of its column. The same checks on a label column shuffled,
or on feature rows permuted, fail: a change that scrambles the alignment of images, features and labels cannot
pass.

Thresholds sit below the values measured on this split (in the comments) by a margin far larger than the spread
across thread counts (measured at 1 and 2 threads: identical zero-shot counts and MAP@R to six decimals).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import indirect_core as ic
from indirect_core.analysis.cross_notion import CLIP_ROW, beats_clip, cross_notion_matrix, specific_notions
from indirect_core.analysis.study import evaluate_notions
from indirect_core.data.datasets import Dataset
from indirect_core.shapes_clip.zero_shot import FACTOR_NOTIONS, zero_shot_by_notion

SPLIT_SEED, N_IMAGES = 31_337, 400
"""A split no evaluation, the card's held-out split or the training stream uses."""
NOTIONS = ("shape", "object colour", "background colour")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The shipped shapes-clip, the split and its image features (encoded once)."""
    backbone = ic.load_backbone("shapes-clip")
    data = ic.load_dataset("synthetic-shapes", root=tmp_path_factory.mktemp("split"), n_images=N_IMAGES,
                           seed=SPLIT_SEED, progress=False)
    features = backbone.encode_images(data.image_paths, batch_size=200, progress=False)
    return backbone, data, features


MARGIN = 0.05
"""MAP@R by which a claim must hold: far above the noise of chance-level scores (a scrambled alignment), far below
the measured gaps."""


def claims(backbone, data: Dataset, features: torch.Tensor) -> dict[str, bool]:
    """The paper's claims on this split, each by ``MARGIN``: every notion's InDiReCT space (the authors' procedure)
    beats the CLIP features on its labels, and is the best of the spaces on its labels (the cross-notion
    diagonal is the largest cell of its column)."""
    notions = [ic.get_notion("synthetic-shapes", name) for name in NOTIONS]
    result = evaluate_notions(backbone, data, features, notions, models=["clip", "indirect"], seeds=[0],
                              n_components=128, n_jobs=1, progress=False)
    matrix = cross_notion_matrix(result, data, features)
    spaces = matrix.drop(index=CLIP_ROW)
    found = {}
    for notion in NOTIONS:
        own, others = spaces.loc[notion, notion], spaces[notion].drop(index=notion)
        found[f"beats CLIP on {notion}"] = bool(own >= matrix.loc[CLIP_ROW, notion] + MARGIN)
        found[f"specific to {notion}"] = bool(own >= others.max() + MARGIN)
    # the project's own verdicts agree where the margin holds
    assert all(beats_clip(matrix)[n] for n in NOTIONS if found[f"beats CLIP on {n}"])
    assert all(specific_notions(matrix)[n] for n in NOTIONS if found[f"specific to {n}"])
    return found


def test_zero_shot_accuracy_per_factor(shipped):
    backbone, data, features = shipped
    labels = {column: data.labels[column].astype(str).tolist() for column in FACTOR_NOTIONS}
    accuracy = {name: r["accuracy"] for name, r in zero_shot_by_notion(features, labels, backbone.encode_texts).items()}
    assert accuracy["object colour"] >= 0.95 and accuracy["background colour"] >= 0.95  # measured 1.000, 1.000
    assert accuracy["shape"] >= 0.80  # measured 0.955
    shuffled = {c: list(np.random.default_rng(0).permutation(v)) for c, v in labels.items()}
    scrambled = zero_shot_by_notion(features, shuffled, backbone.encode_texts)
    assert all(r["accuracy"] < 0.3 for r in scrambled.values())  # chance is 1/8 and 1/10


def test_each_notion_space_beats_clip_and_the_diagonal_holds(shipped):
    """Measured MAP@R (InDiReCT / CLIP / best other space): shape 0.489 / 0.342 / 0.231, object colour
    0.574 / 0.160 / 0.196, background colour 0.916 / 0.256 / 0.125."""
    backbone, data, features = shipped
    assert claims(backbone, data, features) == {**{f"beats CLIP on {n}": True for n in NOTIONS},
                                                **{f"specific to {n}": True for n in NOTIONS}}


def test_a_shuffled_label_column_or_permuted_feature_rows_fail_the_same_checks(shipped):
    backbone, data, features = shipped
    labels = data.labels.copy()
    labels["shape"] = np.random.default_rng(1).permutation(labels["shape"].to_numpy())
    shuffled = Dataset(name=data.name, root=data.root, image_paths=data.image_paths, labels=labels)
    broken = claims(backbone, shuffled, features)
    assert not broken["beats CLIP on shape"] and not broken["specific to shape"]
    permuted = features[torch.from_numpy(np.random.default_rng(2).permutation(len(features)))]
    assert not any(claims(backbone, data, permuted).values())


def test_the_shipped_card_matches_its_file_and_states_the_trained_numbers():
    card = ic.backbone.read_card()
    path = ic.backbone.verify_shapes_clip()
    assert path.stat().st_size == card["checkpoint"]["bytes"] <= 40 * 1024 * 1024
    assert card["training"]["wall_seconds"] <= 30 * 60 and card["training"]["threads"] == 1
    accuracy = {name: r["accuracy"] for name, r in card["held_out"]["zero_shot"].items()}
    assert accuracy["object colour"] >= 0.95 and accuracy["background colour"] >= 0.95 and accuracy["shape"] >= 0.80
    assert card["held_out"]["split"] == {"dataset": "synthetic-shapes", "seed": 90_210, "n_images": 1000,
                                         "image_size": 224}


def test_attribution_maps_and_object_masks_share_the_backbones_grid(shipped):
    """On a 64 px backbone the maps are 64 x 64 and the masks are mapped onto the same grid, so the mask share is
    defined; a uniform map puts exactly the object's area inside the mask."""
    from PIL import Image

    from indirect_core.analysis import attribution

    backbone, data, _ = shipped
    maps = attribution.explain_images(backbone, data.image_paths[:2], method="smoothgrad", samples=2, progress=False)
    masks = [attribution.transform_mask(Image.open(data.masks[i]), backbone.input_resolution) for i in range(2)]
    assert maps.shape == (2, 64, 64) and masks[0].shape == (64, 64) and backbone.input_resolution == 64
    assert 0.0 <= attribution.mask_share(maps[0], masks[0]) <= 1.0
    assert attribution.mask_share(torch.ones(64, 64), masks[1]) == pytest.approx(float(masks[1].float().mean()))
