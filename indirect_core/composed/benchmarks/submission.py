"""Test-server submissions: CIRR's two JSON files (recall, recall_subset) and CIRCO's one, from a ranking.

Shapes (from the CIRR repository's Test-split_server.md and example files, and the CIRCO README):
- CIRR recall: ``{"version": "rc2", "metric": "recall", "<pairid>": [top-50 image names], ...}``;
- CIRR recall_subset: ``{"version": "rc2", "metric": "recall_subset", "<pairid>": [top-3 names], ...}``, the
  names taken from the query's image set without the reference;
- CIRCO: ``{"<query id>": [top-50 gallery image ids as integers], ...}`` with every test query.

A ranking is a LongTensor (or integer array) ``(n_queries, K)`` of image indices into ``query_set.images``,
best first, ``-1`` as padding: what ``evaluate.rank_gallery`` returns (for CIRR and CIRCO, whose gallery is
every image, these are also the gallery positions ``rank`` returns); a subset ranking is what
``evaluate.rank_subsets`` returns, image indices among each query's ``candidates``. Where the query set excludes
the reference (CIRR), a reference found in a row is dropped before the top 50 are taken, as SEARLE's and
LinCIR's submission code remove it. Files are written compactly (the CIRR server takes at most 5 MB) and
atomically.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import AbstractSet, Callable

import numpy as np
import torch

from ..._util.atomic import write_text_atomic
from ..._util.errors import ConfigError
from ..queries import QuerySet

CIRR_VERSION = "rc2"
TOP_K = 50
"""Both servers read the top 50 of each query."""
SUBSET_TOP_K = 3
"""CIRR's Recall_subset server reads the top 3 of each image set."""


def cirr_recall_submission(query_set: QuerySet, ranking: torch.Tensor | np.ndarray) -> dict:
    """CIRR's recall file as a dict: version, metric, then each pairid's top-50 image names."""
    names, rows = _gallery_top(query_set, ranking, "cirr")
    return {"version": CIRR_VERSION, "metric": "recall",
            **{pair: [names[i] for i in row] for pair, row in zip(query_set.query_ids, rows)}}


def cirr_subset_submission(query_set: QuerySet, subset_ranking: torch.Tensor | np.ndarray) -> dict:
    """CIRR's recall_subset file as a dict: version, metric, then each pairid's top-3 names among its candidates."""
    _require(query_set, "cirr")
    if query_set.candidates is None:
        raise ConfigError(f"query set {query_set.name} has no candidates: load CIRR with load_benchmark('cirr')")
    names = query_set.images.labels["name"].tolist()
    rows = _top(query_set, subset_ranking, "subset_ranking", lambda q: set(query_set.candidates[q]),
                SUBSET_TOP_K)
    return {"version": CIRR_VERSION, "metric": "recall_subset",
            **{pair: [names[i] for i in row] for pair, row in zip(query_set.query_ids, rows)}}


def circo_submission(query_set: QuerySet, ranking: torch.Tensor | np.ndarray) -> dict:
    """CIRCO's submission as a dict: each query id's top-50 gallery image ids (integers)."""
    ids, rows = _gallery_top(query_set, ranking, "circo")
    return {query: [int(ids[i]) for i in row] for query, row in zip(query_set.query_ids, rows)}


def write_submission(path: str | Path, submission: dict) -> Path:
    """Write one submission dict as compact JSON, atomically; returns the path."""
    return write_text_atomic(path, json.dumps(submission, separators=(",", ":")))


def write_cirr_submission(query_set: QuerySet, ranking: torch.Tensor | np.ndarray,
                          subset_ranking: torch.Tensor | np.ndarray, folder: str | Path,
                          name: str = "submission") -> dict[str, Path]:
    """Both CIRR files, ``recall_<name>.json`` and ``recall_subset_<name>.json`` in ``folder``."""
    recall = cirr_recall_submission(query_set, ranking)
    subset = cirr_subset_submission(query_set, subset_ranking)
    folder = Path(folder)
    return {"recall": write_submission(folder / f"recall_{name}.json", recall),
            "recall_subset": write_submission(folder / f"recall_subset_{name}.json", subset)}


def write_circo_submission(query_set: QuerySet, ranking: torch.Tensor | np.ndarray, path: str | Path) -> Path:
    """CIRCO's file at ``path``."""
    return write_submission(path, circo_submission(query_set, ranking))


def _gallery_top(query_set: QuerySet, ranking: torch.Tensor | np.ndarray, benchmark: str) -> tuple[list, list]:
    """The image names of a ``benchmark`` query set and each query's top-50 images of ``ranking`` (all from the
    shared gallery)."""
    _require(query_set, benchmark)
    if query_set.gallery is None:
        raise ConfigError(f"query set {query_set.name} has no shared gallery: load it with "
                          f"load_benchmark({benchmark!r})")
    gallery = set(query_set.gallery.tolist())
    return query_set.images.labels["name"].tolist(), _top(query_set, ranking, "ranking", lambda q: gallery, TOP_K)


def _require(query_set: QuerySet, benchmark: str) -> None:
    """The query set must come from ``benchmark`` and carry its query ids."""
    if query_set.benchmark != benchmark:
        raise ConfigError(f"query set {query_set.name} is not a {benchmark} query set: pass "
                          f"load_benchmark({benchmark!r}, split=...)[0]")
    if not query_set.query_ids:
        raise ConfigError(f"query set {query_set.name} has no query ids: load it with load_benchmark({benchmark!r})")


def _as_matrix(ranking: torch.Tensor | np.ndarray, n_queries: int, parameter: str) -> np.ndarray:
    """The ranking as an (n_queries, K) int64 array, or a ConfigError naming the parameter."""
    array = ranking.detach().cpu().numpy() if isinstance(ranking, torch.Tensor) else np.asarray(ranking)
    if array.ndim != 2 or array.shape[0] != n_queries:
        raise ConfigError(f"{parameter} has shape {tuple(array.shape)}: pass one row per query, "
                          f"shape ({n_queries}, K)")
    if not np.issubdtype(array.dtype, np.integer):
        raise ConfigError(f"{parameter} has dtype {array.dtype}: pass integer image indices (a LongTensor)")
    return array.astype(np.int64)


def _top(query_set: QuerySet, ranking: torch.Tensor | np.ndarray, parameter: str,
         allowed: Callable[[int], AbstractSet[int]], top: int) -> list[list[int]]:
    """Each query's first ``top`` ranked image indices, after checking them against ``allowed(query)`` and
    dropping the reference where the query set excludes it; the server needs min(top, rankable) per query."""
    array = _as_matrix(ranking, len(query_set), parameter)
    rows = []
    for q, row in enumerate(array):
        images = [int(i) for i in row if i >= 0]
        permitted = allowed(q)
        outside = [i for i in images if i not in permitted]
        if outside:
            raise ConfigError(f"{parameter} row {q} ranks image(s) {outside[:3]} that are not among the "
                              f"{len(permitted)} images that query is ranked over: pass image indices into "
                              f"query_set.images (what evaluate.rank_gallery / rank_subsets return)")
        if len(set(images)) != len(images):
            raise ConfigError(f"{parameter} row {q} ranks an image twice: rank each image at most once")
        reference = int(query_set.reference[q])
        rankable = len(permitted)
        if query_set.exclude_reference:
            images = [i for i in images if i != reference]
            rankable -= int(reference in permitted)
        need = min(top, rankable)
        if len(images) < need:
            raise ConfigError(f"{parameter} row {q} ranks {len(images)} images (the reference not counted); "
                              f"the server reads the top {need}: rank at least {need} per query")
        rows.append(images[:top])
    return rows
