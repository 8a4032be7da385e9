"""The composed-retrieval benchmarks' metrics, as plain functions of rankings and ground truth.

A ranking is an integer array (n, width) of item ids, best first (padding -1 is never a hit); ground truth is
one sequence of ids per query, in the same id space. Values are fractions in [0, 1] (papers print them x 100).
The keys are stable table columns: ``R@K`` (Recall@K; GeneCIS's R@K on per-query galleries and FashionIQ's
R@10/R@50 are the same definition), ``R_subset@K`` (CIRR) and ``mAP@K`` (CIRCO).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .._util.errors import ConfigError

RECALL_KS: tuple[int, ...] = (1, 5, 10, 50)
"""Recall@K of CIRR, CIRCO and synthetic-shapes-cir."""
SUBSET_KS: tuple[int, ...] = (1, 2, 3)
"""CIRR's Recall_subset@K over the query's 6-image subset (5 once the reference is removed)."""
MAP_KS: tuple[int, ...] = (5, 10, 25, 50)
"""CIRCO's mAP@K."""
FASHIONIQ_KS: tuple[int, ...] = (10, 50)
"""FashionIQ's R@10 and R@50, per category and averaged over the three categories."""
GENECIS_KS: tuple[int, ...] = (1, 2, 3)
"""GeneCIS's R@K on each query's own gallery."""


def recall_name(k: int) -> str:
    """Column name of Recall@K: ``R@K``."""
    return f"R@{k}"


def recall_subset_name(k: int) -> str:
    """Column name of CIRR's Recall_subset@K: ``R_subset@K``."""
    return f"R_subset@{k}"


def map_name(k: int) -> str:
    """Column name of CIRCO's mAP@K: ``mAP@K``."""
    return f"mAP@{k}"


def recall_at_k(ranking: object, targets: Sequence[Sequence[int]], ks: Sequence[int] = RECALL_KS
                ) -> dict[str, float]:
    """Recall@K: the share of queries with at least one ground-truth id among their first K ranked ids."""
    relevant, _ = _relevance(ranking, targets, ks)
    return {recall_name(k): float(relevant[:, :k].any(axis=1).mean()) for k in ks}


def recall_subset_at_k(subset_ranking: object, targets: Sequence[Sequence[int]], ks: Sequence[int] = SUBSET_KS
                       ) -> dict[str, float]:
    """CIRR's Recall_subset@K: Recall@K of each query's ranking over its own subset, the reference removed
    (``rank_candidates(..., exclude=reference)``); keys ``R_subset@K``."""
    relevant, _ = _relevance(subset_ranking, targets, ks)
    return {recall_subset_name(k): float(relevant[:, :k].any(axis=1).mean()) for k in ks}


def mean_average_precision_at_k(ranking: object, targets: Sequence[Sequence[int]], ks: Sequence[int] = MAP_KS
                                ) -> dict[str, float]:
    """CIRCO's mAP@K: mean over queries of AP@K = sum_{i<=K} prec@i * rel_i / min(#ground truths, K)."""
    relevant, n_truths = _relevance(ranking, targets, ks)
    out = {}
    for k in ks:
        hits = relevant[:, :k].astype(np.float64)
        precision = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
        out[map_name(k)] = float(((precision * hits).sum(axis=1) / np.minimum(n_truths, k)).mean())
    return out


def average_over_subsets(results: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Mean of each metric over subsets, each subset weighing the same (FashionIQ's headline average over its
    three categories, GeneCIS's over its four tasks); every subset must report the same metrics."""
    if not results:
        raise ConfigError("no subset results to average: give {subset: {metric: value}}")
    names = [list(r) for r in results.values()]
    if any(set(n) != set(names[0]) for n in names):
        keys = {subset: sorted(r) for subset, r in results.items()}
        raise ConfigError(f"subsets report different metrics, cannot average: {keys}")
    return {name: float(np.mean([r[name] for r in results.values()])) for name in names[0]}


def _relevance(ranking: object, targets: Sequence[Sequence[int]], ks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(n, max K) booleans "the i-th ranked id is a ground truth", and the number of distinct truths per query."""
    ranks = np.asarray(ranking.numpy() if hasattr(ranking, "numpy") else ranking)
    if ranks.ndim != 2 or not np.issubdtype(ranks.dtype, np.integer):
        raise ConfigError(f"ranking must be an integer array (n queries, ranked ids), got shape {ranks.shape} "
                          f"and dtype {ranks.dtype}")
    ks = list(ks)
    if not ks or any(not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1 for k in ks):
        raise ConfigError(f"ks={ks!r} must be positive integers, e.g. (1, 5, 10, 50)")
    if max(ks) > ranks.shape[1]:
        raise ConfigError(f"K={max(ks)} but the ranking holds only {ranks.shape[1]} ids per query: rank with "
                          f"k >= {max(ks)} or drop that K")
    if len(targets) != len(ranks):
        raise ConfigError(f"{len(ranks)} rankings but {len(targets)} ground-truth lists: one per query")
    if not len(ranks):
        raise ConfigError("no queries to score")
    truths = [sorted(set(int(t) for t in row)) for row in targets]
    empty = [i for i, row in enumerate(truths) if not row]
    if empty:
        raise ConfigError(f"query {empty[0]} (and {len(empty) - 1} more) has no ground truth: the metric is "
                          "undefined (hidden test targets are scored by the benchmark's server)")
    if any(row[0] < 0 for row in truths):
        raise ConfigError("ground-truth ids must be non-negative (-1 is the ranking's padding)")
    width = max(len(row) for row in truths)
    padded = np.full((len(truths), width), -2, dtype=np.int64)  # -2 never equals a ranked id or the padding
    for i, row in enumerate(truths):
        padded[i, :len(row)] = row
    top = ranks[:, :max(ks)].astype(np.int64)
    relevant = (top[:, :, None] == padded[:, None, :]).any(axis=2)
    return relevant, np.array([len(row) for row in truths], dtype=np.float64)
