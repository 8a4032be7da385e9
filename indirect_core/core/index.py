"""Nearest-neighbour search over a space's unit embeddings: exact by default, a faiss IVF index for large
collections. Scores are inner products, which are cosines because every indexed row and query has unit length.

- ``ExactIndex`` scores every vector, a chunk of rows at a time, so memory stays bounded by
  ``queries × chunk_rows`` whatever the collection size; the answer is exact.
- ``IVFIndex`` is faiss's ``IndexIVFFlat`` with the inner-product metric: k-means (seeded) cuts the collection
  into ``nlist`` cells and a query scans only the ``nprobe`` cells whose centroids are closest. More probes:
  better recall, slower queries; ``nprobe = nlist`` scans every cell and gives the exact answer.
  Defaults: ``nlist = round(sqrt(n))`` (at most n / 39, so each cell has faiss's minimum of training points),
  ``nprobe = 32`` (``DEFAULT_NPROBE``); measured in ``benchmarks/bench_index.py``.
- ``make_index(kind="auto")`` picks exact below ``IVF_THRESHOLD`` vectors and IVF from there on.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._util.errors import ConfigError
from .._util.validation import as_matrix, check_int, check_optional_int
from .search import top_k

EXACT, IVF, AUTO = "exact", "ivf", "auto"
INDEX_KINDS: tuple[str, ...] = (AUTO, EXACT, IVF)
IVF_THRESHOLD = 100_000
"""With ``kind="auto"`` a collection of at least this many vectors is searched with IVF, smaller ones exactly."""
DEFAULT_NPROBE = 32
"""Cells an IVF query scans (clipped to nlist). On 1M clustered 128-d vectors: recall@10 0.97 in ~1 ms."""
TRAINING_POINTS_PER_CELL = 64
"""IVF k-means trains on at most this many vectors per cell, drawn by the seed (faiss's own cap is 256)."""
MIN_POINTS_PER_CELL = 39
"""faiss's minimum of training points per k-means centroid; nlist is kept at or below n / 39."""
DEFAULT_CHUNK_ROWS = 32_768
"""Rows the exact search scores at once (32 768 × 128 float32 = 16 MiB per query)."""
MAX_SCORES = 1 << 24
"""The exact search holds at most this many scores at once (64 MiB): query blocks × rows per chunk."""


def check_k(k: Any) -> int:
    """The number of results to return: a positive integer."""
    return check_int("k", k, hint="the number of results to return, e.g. k=10")


def as_vectors(vectors: Any, dim: int | None, name: str) -> np.ndarray:
    """A C-contiguous float32 (n, dim) array (one vector: one row; no rows: none), or a ConfigError naming
    ``name``."""
    matrix = as_matrix(vectors, name, n_columns=dim, vector_ok=True, empty_ok=True)
    return np.ascontiguousarray(matrix.numpy())


def ivf_nlist(n: int) -> int:
    """Default number of IVF cells for ``n`` vectors: round(sqrt(n)), at most n / 39, at least 1."""
    return max(1, min(int(round(math.sqrt(max(n, 1)))), n // MIN_POINTS_PER_CELL))


class ExactIndex:
    """Exact inner-product search, scoring ``chunk_rows`` vectors at a time (bounded memory)."""

    kind = EXACT

    def __init__(self, dim: int, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.dim = check_int("dim", dim, hint="the embedding size")
        self.chunk_rows = check_int("chunk_rows", chunk_rows, hint="vectors scored at once")
        self._vectors = np.empty((0, self.dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._vectors)

    def add(self, vectors: Any) -> None:
        """Append vectors (ids continue from the current size)."""
        self._vectors = np.concatenate([self._vectors, as_vectors(vectors, self.dim, "vectors")])

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, min(k, len)), best first; ties go to the lower id."""
        queries = as_vectors(queries, self.dim, "queries")
        k = min(check_k(k), len(self))
        rows = max(1024, min(self.chunk_rows, MAX_SCORES // max(1, len(queries))))
        block = max(1, MAX_SCORES // rows)
        parts = [self._search_block(queries[start:start + block], k, rows)
                 for start in range(0, len(queries), block)] or [self._search_block(queries, k, rows)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _search_block(self, queries: np.ndarray, k: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        # torch's matrix product and top-k: on a shared 2-core machine its thread pool keeps a one-query
        # search (memory-bound) at ~55 ms per million 128-d rows, where numpy's BLAS threads took ~190 ms.
        import torch

        # Each chunk's best k, then the best k of those and the best so far: the earlier (lower) ids come first
        # among equal scores in both steps, so ties go to the lower id whatever the chunk size.
        best_scores = torch.zeros((len(queries), 0))
        best_ids = torch.zeros((len(queries), 0), dtype=torch.long)
        query_tensor = torch.from_numpy(queries)
        for start in range(0, len(self), rows):
            chunk = torch.from_numpy(self._vectors[start:start + rows])
            values, positions = top_k(query_tensor @ chunk.T, min(k, len(chunk)))
            scores, ids = torch.cat([best_scores, values], dim=1), torch.cat([best_ids, positions + start], dim=1)
            best_scores, chosen = top_k(scores, min(k, scores.shape[1]))
            best_ids = ids.gather(1, chosen)
        return best_scores.numpy(), best_ids.numpy()

    def describe(self) -> dict:
        """What the index is, for ``Space.info`` and saved spaces."""
        return {"kind": self.kind, "n_vectors": len(self), "chunk_rows": self.chunk_rows}


class IVFIndex:
    """faiss ``IndexIVFFlat`` (inner product): trained by seeded k-means on the first vectors added, then
    extended by later additions (the cells stay as trained). ``nprobe`` cells are scanned per query."""

    kind = IVF

    def __init__(self, dim: int, nlist: int | None = None, nprobe: int = DEFAULT_NPROBE, seed: int = 0) -> None:
        self.dim = check_int("dim", dim, hint="the embedding size")
        self.nlist = check_optional_int("nlist", nlist, hint="None: round(sqrt(n)) cells")
        self.nprobe = check_int("nprobe", nprobe, hint="cells scanned per query")
        self.seed = check_int("seed", seed, minimum=0)
        self.n_trained = 0
        self._index: Any = None

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def add(self, vectors: Any) -> None:
        """Add vectors; the first call trains the cells on (a seeded sample of) them."""
        import faiss

        vectors = as_vectors(vectors, self.dim, "vectors")
        if self._index is None:
            if len(vectors) == 0:
                return
            nlist = self.nlist or ivf_nlist(len(vectors))
            if nlist * MIN_POINTS_PER_CELL > len(vectors) and nlist > 1:
                raise ConfigError(f"an IVF index with nlist={nlist} needs at least {nlist * MIN_POINTS_PER_CELL} "
                                  f"vectors to train on, got {len(vectors)}: use a smaller nlist, or the exact index")
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = self.seed
            index.cp.max_points_per_centroid = TRAINING_POINTS_PER_CELL
            index.cp.min_points_per_centroid = min(MIN_POINTS_PER_CELL, max(1, len(vectors) // nlist))
            cap = TRAINING_POINTS_PER_CELL * nlist
            sample = vectors if len(vectors) <= cap else \
                vectors[np.sort(np.random.default_rng(self.seed).choice(len(vectors), cap, replace=False))]
            index.train(sample)
            self._index, self.nlist, self.n_trained = index, nlist, len(vectors)
        if len(vectors):
            self._index.add(vectors)

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, min(k, len)), best first (cells not scanned are not found)."""
        queries = as_vectors(queries, self.dim, "queries")
        k = min(check_k(k), len(self))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        self._index.nprobe = min(self.nprobe, self.nlist)
        scores, ids = self._index.search(queries, k)
        if (ids < 0).any():  # fewer than k vectors in the scanned cells: drop the empty slots
            keep = int((ids >= 0).sum(axis=1).min())
            scores, ids = scores[:, :keep], ids[:, :keep]
        return scores, ids.astype(np.int64)

    def to_bytes(self) -> bytes:
        """The trained faiss index serialised (vectors included), for saving next to a space."""
        import faiss

        if self._index is None:
            raise ConfigError("the IVF index is empty: add vectors before saving it")
        return faiss.serialize_index(self._index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, nprobe: int = DEFAULT_NPROBE, seed: int = 0, n_trained: int = 0) -> "IVFIndex":
        """An index read back from ``to_bytes``."""
        import faiss

        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        ivf = cls(index.d, nlist=index.nlist, nprobe=nprobe, seed=seed)
        ivf._index, ivf.n_trained = index, n_trained or int(index.ntotal)
        return ivf

    def describe(self) -> dict:
        """What the index is, for ``Space.info`` and saved spaces."""
        return {"kind": self.kind, "n_vectors": len(self), "nlist": self.nlist, "nprobe": self.nprobe,
                "seed": self.seed, "n_trained": self.n_trained}


def resolve_kind(kind: str, n: int, threshold: int = IVF_THRESHOLD) -> str:
    """``"exact"`` or ``"ivf"`` for a collection of ``n`` vectors (``"auto"``: IVF from ``threshold`` on)."""
    if kind not in INDEX_KINDS:
        raise ConfigError(f"index={kind!r} is not an index kind: use one of {list(INDEX_KINDS)}")
    if kind == AUTO:
        return IVF if n >= threshold else EXACT
    return kind


def make_index(vectors: Any, kind: str = AUTO, nlist: int | None = None, nprobe: int = DEFAULT_NPROBE,
               seed: int = 0, threshold: int = IVF_THRESHOLD) -> ExactIndex | IVFIndex:
    """An index over ``vectors`` (unit rows): exact, IVF, or chosen by size (``"auto"``)."""
    vectors = as_vectors(vectors, None, "vectors")
    chosen = resolve_kind(kind, len(vectors), threshold)
    index: ExactIndex | IVFIndex = ExactIndex(vectors.shape[1]) if chosen == EXACT else \
        IVFIndex(vectors.shape[1], nlist=nlist, nprobe=nprobe, seed=seed)
    index.add(vectors)
    return index
