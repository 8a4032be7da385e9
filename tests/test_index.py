"""Search indexes: the chunked exact search against a brute-force reference written here, the faiss IVF index
against the exact one (identical when every cell is scanned), growth, saving, the size rule and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from indirect_core.core import index as ix
from indirect_core._util.errors import ConfigError


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _random(n: int, dim: int, seed: int) -> np.ndarray:
    return _unit(np.random.default_rng(seed).standard_normal((n, dim)))


def _clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((clusters, dim)))
    return _unit(centres[rng.integers(0, clusters, n)] + 0.05 * rng.standard_normal((n, dim)))


def _reference(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: every score in float64, a stable sort by (-score, id)."""
    scores = queries.astype(np.float64) @ vectors.astype(np.float64).T
    ids = np.stack([np.lexsort((np.arange(len(row)), -row))[:k] for row in scores])
    return np.take_along_axis(scores, ids, axis=1), ids


def test_exact_search_equals_brute_force_whatever_the_chunk_size():
    vectors, queries = _random(500, 16, 0), _random(9, 16, 1)
    want_scores, want_ids = _reference(vectors, queries, 7)
    for chunk in (1, 7, 64, 10_000):
        index = ix.ExactIndex(16, chunk_rows=chunk)
        index.add(vectors)
        scores, ids = index.search(queries, 7)
        assert np.array_equal(ids, want_ids), chunk
        np.testing.assert_allclose(scores, want_scores, atol=1e-6)
        assert (np.diff(scores, axis=1) <= 0).all()  # best first


def test_exact_ties_go_to_the_lower_id_and_k_larger_than_the_index_returns_all():
    vectors = _random(6, 4, 2)
    vectors = np.concatenate([vectors, vectors[[3, 3]]])  # ids 6 and 7 duplicate id 3
    index = ix.ExactIndex(4, chunk_rows=2)
    index.add(vectors)
    _, ids = index.search(vectors[3], 3)
    assert ids[0].tolist() == [3, 6, 7]
    scores, ids = index.search(vectors[0], 50)
    assert ids.shape == (1, 8) and sorted(ids[0].tolist()) == list(range(8))


def test_a_tie_wider_than_k_keeps_the_lowest_ids_within_and_across_chunks():
    others = _random(1020, 4, 5)
    vectors = np.concatenate([others, np.repeat(others[:1], 12, axis=0)])  # id 0 again at ids 1020..1031
    index = ix.ExactIndex(4, chunk_rows=1024)  # the smallest chunk the search uses
    index.add(vectors)
    assert index.search(others[0], 3)[1][0].tolist() == [0, 1020, 1021]  # inside the first chunk of 1024 rows
    assert index.search(others[0], 7)[1][0].tolist() == [0, *range(1020, 1026)]  # the tie spans two chunks


def test_many_queries_are_searched_in_bounded_blocks(monkeypatch):
    monkeypatch.setattr(ix, "MAX_SCORES", 4096)  # forces several query blocks of 4 rows x 1024 vectors
    vectors, queries = _random(3000, 8, 3), _random(11, 8, 4)
    index = ix.ExactIndex(8)
    index.add(vectors)
    scores, ids = index.search(queries, 5)
    want_scores, want_ids = _reference(vectors, queries, 5)
    assert np.array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)


def test_ivf_scanning_every_cell_equals_exact_search():
    vectors, queries = _random(2000, 16, 5), _random(20, 16, 6)
    exact = ix.make_index(vectors, "exact")
    ivf = ix.make_index(vectors, "ivf", nprobe=1000)
    assert isinstance(ivf, ix.IVFIndex) and ivf.nlist == ix.ivf_nlist(2000) == 45  # round(sqrt(2000))
    exact_scores, exact_ids = exact.search(queries, 10)
    ivf_scores, ivf_ids = ivf.search(queries, 10)
    assert np.array_equal(ivf_ids, exact_ids)
    np.testing.assert_allclose(ivf_scores, exact_scores, atol=1e-5)


def test_ivf_default_probes_find_the_neighbours_of_clustered_data():
    vectors, queries = _clustered(4000, 32, 40, 7), _clustered(50, 32, 40, 7)
    _, truth = ix.make_index(vectors, "exact").search(queries, 10)
    ivf = ix.make_index(vectors, "ivf")
    assert ivf.nprobe == ix.DEFAULT_NPROBE and ivf.nlist == 63
    _, found = ivf.search(queries, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found.tolist(), truth.tolist())])
    assert recall >= 0.95
    ivf.nprobe = 1  # one cell only: some true neighbours live in other cells
    _, one = ivf.search(queries, 10)
    assert np.mean([len(set(f) & set(t)) / 10 for f, t in zip(one.tolist(), truth.tolist())]) < recall


def test_ivf_grows_after_training_and_survives_serialisation():
    first, second = _random(800, 8, 8), _random(300, 8, 9)
    ivf = ix.IVFIndex(8, nprobe=10_000, seed=0)
    ivf.add(first)
    ivf.add(second)
    assert len(ivf) == 1100 and ivf.n_trained == 800
    _, ids = ivf.search(second[[5, 17]], 1)
    assert ids[:, 0].tolist() == [805, 817]  # the later vectors keep the ids after the first ones
    again = ix.IVFIndex.from_bytes(ivf.to_bytes(), nprobe=10_000, n_trained=800)
    queries = _random(5, 8, 10)
    assert np.array_equal(again.search(queries, 4)[1], ivf.search(queries, 4)[1])
    assert again.describe()["nlist"] == ivf.nlist and again.describe()["n_trained"] == 800


def test_auto_kind_follows_the_size_threshold():
    assert ix.resolve_kind("auto", ix.IVF_THRESHOLD - 1) == "exact"
    assert ix.resolve_kind("auto", ix.IVF_THRESHOLD) == "ivf"
    assert ix.resolve_kind("exact", 10**9) == "exact" and ix.resolve_kind("ivf", 5) == "ivf"
    assert isinstance(ix.make_index(_random(150, 4, 11), "auto", threshold=100), ix.IVFIndex)
    assert isinstance(ix.make_index(_random(99, 4, 11), "auto", threshold=100), ix.ExactIndex)
    assert ix.ivf_nlist(1_000_000) == 1000 and ix.ivf_nlist(100) == 2 and ix.ivf_nlist(10) == 1


@pytest.mark.parametrize("k", [0, -3, True, 2.5, "5"])
def test_k_must_be_a_positive_integer(k):
    index = ix.make_index(_random(10, 4, 12), "exact")
    with pytest.raises(ConfigError, match=r"k=.* must be a positive integer"):
        index.search(_random(1, 4, 13), k)


def test_bad_vectors_kinds_and_cell_counts_are_named():
    index = ix.make_index(_random(10, 4, 14), "exact")
    with pytest.raises(ConfigError, match=r"queries must be a \(n, 4\) matrix, got shape \(1, 5\)"):
        index.search(_random(1, 5, 15), 3)
    with pytest.raises(ConfigError, match="NaN"):
        index.add(np.full((2, 4), np.nan))
    with pytest.raises(ConfigError, match="index='hnsw'"):
        ix.make_index(_random(10, 4, 16), "hnsw")
    with pytest.raises(ConfigError, match="needs at least 390 vectors"):
        ix.make_index(_random(100, 4, 17), "ivf", nlist=10)
