"""The one top-k (core.search.top_k): against a stable sort written here, on scores full of ties."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from indirect_core.core.search import top_k


def _reference(scores: np.ndarray, k: int, largest: bool = True) -> np.ndarray:
    """Positions of the k best per row by a stable sort: among equal scores the lower position first."""
    return np.argsort(-scores if largest else scores, axis=1, kind="stable")[:, :k]


def test_ties_at_the_kth_place_go_to_the_lower_positions():
    scores = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0, 3.0]])
    values, positions = top_k(scores, 2)
    assert positions.tolist() == [[1, 2]] and values.tolist() == [[3.0, 3.0]]
    assert top_k(scores, 5)[1].tolist() == [[1, 2, 4, 5, 3]]
    assert top_k(scores, 2, largest=False)[1].tolist() == [[0, 3]]
    assert top_k(scores, 0)[1].shape == (1, 0)


@pytest.mark.parametrize("largest", [True, False])
def test_equals_a_stable_sort_on_scores_full_of_ties(largest):
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, (50, 40)).astype(np.float32)  # ten copies of each value per row on average
    scores[::7, ::3] = -np.inf  # excluded entries, as composed ranking marks them
    for k in (1, 3, 10, 39, 40):
        values, positions = top_k(torch.from_numpy(scores), k, largest=largest)
        want = _reference(scores, k, largest)
        assert np.array_equal(positions.numpy(), want), k
        assert np.array_equal(values.numpy(), np.take_along_axis(scores, want, axis=1)), k
