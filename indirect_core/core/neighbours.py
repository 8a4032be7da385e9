"""Nearest neighbours for figures: who counts as similar to a query under an embedding space."""
from __future__ import annotations

from typing import Any, Collection, Sequence

import numpy as np
import torch

from .._util.errors import ConfigError
from .._util.validation import check_int
from .search import top_k


def nearest_neighbours(embeddings: Any, queries: Sequence[int], k: int = 5) -> np.ndarray:
    """Indices (len(queries), k) of the k nearest other items by Euclidean distance, as the metrics rank them;
    among equally distant items the lower index comes first."""
    features = torch.as_tensor(np.asarray(embeddings) if not isinstance(embeddings, torch.Tensor) else embeddings)
    features = features.detach().float()
    queries = list(queries)
    if check_int("k", k) >= len(features):
        raise ConfigError(f"k={k} must be between 1 and {len(features) - 1} (the number of other items)")
    if any(not 0 <= q < len(features) for q in queries):
        raise ConfigError(f"query indices {queries} must lie in 0..{len(features) - 1}")
    distances = torch.cdist(features[queries], features)
    distances[torch.arange(len(queries)), torch.as_tensor(queries)] = float("inf")  # never return the query
    return top_k(distances, k, largest=False)[1].numpy()  # equal distances: the lower index first


def pick_queries(labels: Sequence[Any], n: int, seed: int = 0, exclude: Collection[int] = ()) -> list[int]:
    """n indices, deterministic from the seed: one per label value first (as many different labels as there
    are), then any others; indices in ``exclude`` (e.g. images already shown for another notion) come last."""
    labels = np.asarray(labels).astype(str)
    rng = np.random.default_rng(seed)
    excluded = {int(i) for i in exclude}
    order = [int(i) for i in rng.permutation(len(labels))]
    fresh = [i for i in order if i not in excluded]
    chosen, seen = [], set()
    for index in fresh:
        if labels[index] not in seen:
            chosen.append(index)
            seen.add(labels[index])
        if len(chosen) == n:
            return chosen
    rest = [i for i in fresh if i not in chosen] + [i for i in order if i in excluded]
    return chosen + rest[: n - len(chosen)]
