"""Ranking for composed retrieval: gallery images by cosine similarity to each composed query.

Both sides are L2-normalised here, as every CIR benchmark scores (``q @ G.T`` on unit rows). Queries are
processed in chunks, so memory stays bounded (chunk × gallery similarities) for galleries of 100k+ images.
Ties are broken deterministically: among equal similarities, the lower gallery (or candidate-list) position
ranks first (``core.search.top_k``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .._util.errors import ConfigError
from .._util.validation import as_matrix, check_int, unit_rows
from ..core.search import top_k


def feature_matrix(features: object, name: str, n_rows: int | None = None) -> torch.Tensor:
    """``features`` as a finite float32 (n, d) CPU tensor (``_util.validation.as_matrix``); ``n_rows`` (if given)
    must match its rows.

    Accepts tensors, arrays, and the cache's ``ImageFeatures`` when no image was skipped (rows then align
    with the dataset).
    """
    skipped = getattr(features, "skipped", None)
    if skipped is not None and hasattr(features, "features"):
        if skipped:
            raise ConfigError(f"{name}: the cache skipped {len(skipped)} unreadable image(s) (e.g. "
                              f"{next(iter(skipped))}), so its rows do not align with the query set's images: "
                              "fix or remove those files and recompute the features")
        features = features.features
    return as_matrix(features, name, n_rows=n_rows)


def _unit_rows_of_one_width(query_features: object, features: object, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The queries and the features they are ranked against (called ``name``) as unit rows of one width."""
    queries = unit_rows(feature_matrix(query_features, "query_features"), "query_features")
    rows = unit_rows(feature_matrix(features, name), name)
    if queries.shape[1] != rows.shape[1]:
        raise ConfigError(f"query_features are {queries.shape[1]}-dimensional but {name} {rows.shape[1]}-dimensional: "
                          "compute both with the same backbone")
    return queries, rows


def _check_k(k: object, available: int, what: str) -> int:
    k = check_int("k", k)
    if k > available:
        raise ConfigError(f"k={k} but only {available} {what} can be ranked per query: pass k <= {available}")
    return k


def rank(query_features: object, gallery_features: object, k: int, exclude: Sequence[int] | None = None,
         chunk_size: int = 1024) -> torch.Tensor:
    """Top-``k`` gallery positions (n, k) per query, by cosine similarity, best first.

    ``exclude`` gives per query one gallery position to leave out (its reference image) or -1 for none.
    Equal similarities rank the lower gallery position first, so the result is deterministic.
    """
    queries, gallery = _unit_rows_of_one_width(query_features, gallery_features, "gallery_features")
    chunk_size = check_int("chunk_size", chunk_size)
    n, m = len(queries), len(gallery)
    excluded = _exclusions(exclude, n, m)
    k = _check_k(k, m - int((excluded >= 0).any()), "gallery images")
    out = torch.empty(n, k, dtype=torch.long)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        scores = queries[start:stop] @ gallery.T
        rows = torch.arange(stop - start)
        drop = excluded[start:stop]
        scores[rows[drop >= 0], drop[drop >= 0]] = -torch.inf
        out[start:stop] = top_k(scores, k)[1]
    return out


def _exclusions(exclude: Sequence[int] | None, n: int, m: int) -> torch.Tensor:
    """``exclude`` as a LongTensor (n,) of gallery positions in -1..m-1."""
    if exclude is None:
        return torch.full((n,), -1, dtype=torch.long)
    values = torch.as_tensor(np.asarray(exclude, dtype=np.int64))
    if values.shape != (n,):
        raise ConfigError(f"exclude has shape {tuple(values.shape)}; expected ({n},): one gallery position per "
                          "query, -1 for none")
    bad = values[(values < -1) | (values >= m)]
    if len(bad):
        raise ConfigError(f"exclude holds {bad[:3].tolist()}: gallery positions must lie in 0..{m - 1} (-1 = none)")
    return values


def pad_candidates(candidates: Sequence[Sequence[int]], n_images: int) -> torch.Tensor:
    """Per-query candidate lists as a LongTensor (n, longest) padded with -1; indices checked against n_images."""
    if candidates is None or isinstance(candidates, (str, bytes)):
        raise ConfigError("candidates must be a sequence of per-query image index lists")
    lists = [list(c) for c in candidates]
    width = max((len(c) for c in lists), default=0)
    if not lists or width == 0:
        raise ConfigError("candidates are empty: give every query at least one candidate image")
    padded = torch.full((len(lists), width), -1, dtype=torch.long)
    for row, values in enumerate(lists):
        if not values:
            raise ConfigError(f"query {row} has no candidates: give every query at least one candidate image")
        array = np.asarray(values)
        if not np.issubdtype(array.dtype, np.integer):
            raise ConfigError(f"candidates of query {row} must be integer image indices, got {values[:3]!r}")
        if array.min() < 0 or array.max() >= n_images:
            raise ConfigError(f"candidates of query {row} hold {values[:6]!r}: image indices must lie in "
                              f"0..{n_images - 1}")
        if len(set(array.tolist())) != len(array):
            raise ConfigError(f"candidates of query {row} repeat an image: {values!r}")
        padded[row, :len(values)] = torch.from_numpy(array.astype(np.int64))
    return padded


def rank_candidates(query_features: object, image_features: object, candidates: Sequence[Sequence[int]],
                    exclude: Sequence[int] | None = None, chunk_size: int = 1024) -> torch.Tensor:
    """Rank each query over its own candidate images (CIRR's subset, GeneCIS's per-query gallery).

    ``candidates[i]`` are indices into ``image_features``' rows; ``exclude[i]`` an image index to remove from
    query i's list (its reference; -1 = none). Returns a LongTensor (n, longest list) of image indices, best
    first, padded with -1 where a list is shorter or lost its excluded image. Equal similarities keep the
    candidate-list order (the earlier candidate first), so a loader should not always list the target first.
    """
    queries, images = _unit_rows_of_one_width(query_features, image_features, "image_features")
    chunk_size = check_int("chunk_size", chunk_size)
    padded = pad_candidates(candidates, len(images))
    if len(padded) != len(queries):
        raise ConfigError(f"{len(queries)} query rows but {len(padded)} candidate lists: give one list per query")
    excluded = _exclusions(exclude, len(queries), len(images))
    out = torch.empty_like(padded)
    for start in range(0, len(padded), chunk_size):
        block = padded[start:start + chunk_size]
        scores = torch.einsum("nd,nld->nl", queries[start:start + chunk_size], images[block.clamp(min=0)])
        removed = (block < 0) | (block == excluded[start:start + chunk_size, None])
        scores[removed] = -torch.inf
        order = scores.sort(dim=1, descending=True, stable=True).indices
        ranked = block.gather(1, order)
        ranked[removed.gather(1, order)] = -1
        out[start:start + chunk_size] = ranked
    return out
