"""The cross-notion matrix on planted features, where the answer is known by construction: each notion's space
groups the images by its own notion, so the diagonal is the largest cell of its column, and it beats CLIP."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch

from indirect_core.analysis.cross_notion import CLIP_ROW, beats_clip, cross_notion_matrix, specific_notions
from indirect_core.analysis.study import evaluate_notions
from indirect_core.data.datasets import Dataset
from indirect_core.data.notions import Notion
from indirect_core.report import plots

DIM, N_IMAGES = 96, 240


class PlantedBackbone:
    """Stands in for a CLIP: every prompt "a <word> thing" embeds to its word's planted direction."""

    name, caveat, random_weights = "planted", None, False

    def __init__(self, words: dict[str, torch.Tensor]) -> None:
        self.words = words

    def encode_texts(self, prompts):
        rows = torch.stack([self.words[prompt.split()[1]] for prompt in prompts])
        return rows / rows.norm(dim=1, keepdim=True)

    def identity(self) -> dict:
        return {"name": self.name, "sha256": "0" * 64, "random_weights": False, "caveat": None, "embed_dim": DIM}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Images = colour direction + shape direction + a strong nuisance; each word = its direction + context."""
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(DIM, DIM, generator=g))[0].T
    colours, shapes, nuisance = basis[:6], basis[6:11], basis[11:30]
    colour = torch.randint(0, 6, (N_IMAGES,), generator=g)
    shape = torch.randint(0, 5, (N_IMAGES,), generator=g)
    images = colours[colour] + shapes[shape] + 1.5 * torch.randn(N_IMAGES, 19, generator=g) @ nuisance
    words = {f"c{i}": colours[i] + 0.8 * basis[40] for i in range(6)} | {f"s{i}": shapes[i] + 0.8 * basis[41]
                                                                         for i in range(5)}
    labels = pd.DataFrame({"colour": [f"c{int(i)}" for i in colour], "shape": [f"s{int(i)}" for i in shape]})
    root = tmp_path_factory.mktemp("planted")  # the dataset's identity reads its files' sizes and times
    for i in range(N_IMAGES):
        (root / f"{i}.png").write_bytes(b"")
    data = Dataset(name="planted", root=root, image_paths=tuple(root / f"{i}.png" for i in range(N_IMAGES)),
                   labels=labels)
    notions = [Notion("colour", "planted", "colour", "a {} thing", [f"c{i}" for i in range(6)]),
               Notion("shape", "planted", "shape", "a {} thing", [f"s{i}" for i in range(5)])]
    result = evaluate_notions(PlantedBackbone(words), data, images, notions, models=["clip", "indirect-lbfgs"],
                              seeds=[0, 1], n_components=8, n_jobs=1, progress=False)
    return result, data, images


def test_each_space_is_specific_to_its_notion_and_beats_clip(planted):
    result, data, images = planted
    matrix = cross_notion_matrix(result, data, images)
    assert list(matrix.index) == ["colour", "shape", CLIP_ROW] and list(matrix.columns) == ["colour", "shape"]
    assert specific_notions(matrix) == {"colour": True, "shape": True}
    assert beats_clip(matrix) == {"colour": True, "shape": True}
    assert matrix.loc["colour", "colour"] > 0.9 and matrix.loc["colour", "shape"] < matrix.loc[CLIP_ROW, "shape"]
    assert matrix.attrs["seeds"] == [0, 1] and matrix.attrs["model"] == "indirect-lbfgs"
    fig = plots.plot_cross_notion(matrix)
    assert "Cross-notion matrix" in fig.get_label()


def test_a_scrambled_label_column_breaks_the_diagonal(planted):
    """The mutation check: with the colour labels shuffled, no space groups images by them any more."""
    result, data, images = planted
    shuffled = data.labels.copy()
    shuffled["colour"] = np.random.default_rng(0).permutation(shuffled["colour"].to_numpy())
    scrambled = Dataset(name=data.name, root=data.root, image_paths=data.image_paths, labels=shuffled)
    matrix = cross_notion_matrix(result, scrambled, images)
    assert matrix.loc["colour", "colour"] < 0.3


def test_the_matrix_needs_two_notions_and_an_indirect_space(planted):
    from indirect_core._util.errors import ConfigError

    result, data, images = planted
    with pytest.raises(ConfigError, match="needs the fitted spaces of an InDiReCT model"):
        cross_notion_matrix(result, data, images, model="indirect")
