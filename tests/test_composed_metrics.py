"""Composed-retrieval ranking, metrics and evaluate: hand-computed answers on planted rankings.

Planted rankings: gallery features are one-hot rows (the identity) and a query's features are the scores it
should give each image, so the cosine ranking is the score order (ties where scores are equal).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from indirect_core.backbone import RANDOM_WEIGHTS_MARKER
from indirect_core.composed import (QuerySet, average_over_subsets, evaluate, evaluate_methods,
                                    mean_average_precision_at_k, rank, rank_candidates, rank_gallery, rank_subsets,
                                    recall_at_k, recall_subset_at_k, results_table)
from indirect_core.data.datasets import Dataset
from indirect_core._util.errors import ConfigError


def _images(n: int) -> Dataset:
    return Dataset(name="toy", root=Path("/toy"), image_paths=tuple(Path(f"/toy/{i}.png") for i in range(n)),
                   labels=pd.DataFrame({"name": [f"img{i}" for i in range(n)]}))


def _scores(rows: list[list[float]], n: int | None = None) -> torch.Tensor:
    """Query features that score image j with rows[i][j] against one-hot image features."""
    width = n or len(rows[0])
    out = torch.zeros(len(rows), width)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row)
    return out


# ---------------------------------------------------------------- rank


def test_rank_orders_by_cosine_both_sides_normalised():
    gallery = torch.eye(5) * torch.tensor([[1.0], [10.0], [0.1], [3.0], [2.0]])  # lengths must not matter
    queries = torch.tensor([[0.1, 0.5, 0.3, 0.9, 0.2], [5.0, 0.0, 1.0, 0.0, 0.0]])
    assert rank(queries, gallery, k=5).tolist() == [[3, 1, 2, 4, 0], [0, 2, 1, 3, 4]]
    assert rank(queries * 7, gallery, k=2).tolist() == [[3, 1], [0, 2]]
    # A real cosine case: angles 10, 50 and 30 degrees from the query; lengths 1, 4, 0.5.
    angles = torch.deg2rad(torch.tensor([10.0, 50.0, 30.0]))
    gallery2 = torch.stack([angles.cos(), angles.sin()], dim=1) * torch.tensor([[1.0], [4.0], [0.5]])
    assert rank(torch.tensor([[2.0, 0.0]]), gallery2, k=3).tolist() == [[0, 2, 1]]
    assert rank(torch.tensor([[2.0, 0.0]]), gallery2, k=3).dtype == torch.long


def test_ties_go_to_the_lower_gallery_position():
    queries = _scores([[1, 2, 2, 0, 2, 1]])
    gallery = torch.eye(6)
    assert rank(queries, gallery, k=6).tolist() == [[1, 2, 4, 0, 5, 3]]
    assert rank(queries, gallery, k=2).tolist() == [[1, 2]]      # k cuts through the three-way tie
    assert rank(queries, gallery, k=4).tolist() == [[1, 2, 4, 0]]  # and through the tie of 0 and 5
    # Everything tied (identical gallery rows): positions in order, whatever topk would pick.
    same = torch.ones(300, 4)
    assert rank(torch.ones(2, 4), same, k=5).tolist() == [[0, 1, 2, 3, 4]] * 2
    assert rank(torch.ones(2, 4), same, k=5, exclude=[2, -1]).tolist() == [[0, 1, 3, 4, 5], [0, 1, 2, 3, 4]]


def test_exclude_removes_the_reference_only_where_given():
    queries = _scores([[3, 2, 1, 0], [3, 2, 1, 0], [0, 1, 2, 3]])
    ranking = rank(queries, torch.eye(4), k=3, exclude=[0, -1, 3])
    assert ranking.tolist() == [[1, 2, 3], [0, 1, 2], [2, 1, 0]]


def reference_rank(queries: torch.Tensor, gallery: torch.Tensor, k: int, exclude: list[int]) -> np.ndarray:
    """The rule written out: float64 cosines, excluded position last, a full sort by (-score, position)."""
    q = queries.double() / queries.double().norm(dim=1, keepdim=True)
    g = gallery.double() / gallery.double().norm(dim=1, keepdim=True)
    scores = (q @ g.T).numpy()
    out = []
    for i, row in enumerate(scores):
        row = row.copy()
        if exclude[i] >= 0:
            row[exclude[i]] = -np.inf
        order = np.lexsort((np.arange(len(row)), -row))
        out.append(order[:k])
    return np.array(out)


@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_rank_matches_a_full_sort_with_many_ties(chunk_size):
    rng = np.random.default_rng(0)
    # 40 directions, each repeated at random positions of a 120-image gallery: exact duplicates tie.
    directions = rng.normal(size=(40, 6)).astype(np.float32)
    gallery = torch.from_numpy(directions[rng.integers(0, len(directions), size=120)])
    queries = rng.normal(size=(60, 6)).astype(np.float32)
    # Keep queries whose cosines to different directions differ by more than float32 rounding (1e-5), so that
    # the only ties are the duplicates and float32 and float64 agree on every other order.
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    cosines = np.sort((queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float64) @ unit.T, axis=1)
    queries = torch.from_numpy(queries[np.diff(cosines, axis=1).min(axis=1) > 1e-5][:25])
    assert len(queries) == 25
    exclude = [int(x) for x in rng.integers(-1, 120, size=25)]
    expected = reference_rank(queries, gallery, 30, exclude)
    ours = rank(queries, gallery, k=30, exclude=exclude, chunk_size=chunk_size).numpy()
    assert (ours == expected).all()


def test_rank_rejects_bad_input():
    gallery = torch.eye(4)
    with pytest.raises(ConfigError, match="k=5 but only 4"):
        rank(torch.ones(1, 4), gallery, k=5)
    with pytest.raises(ConfigError, match="k=4 but only 3"):
        rank(torch.ones(1, 4), gallery, k=4, exclude=[1])
    with pytest.raises(ConfigError, match="exclude has shape"):
        rank(torch.ones(2, 4), gallery, k=2, exclude=[1])
    with pytest.raises(ConfigError, match="0..3"):
        rank(torch.ones(1, 4), gallery, k=2, exclude=[4])
    with pytest.raises(ConfigError, match="3-dimensional but gallery_features 4-dimensional"):
        rank(torch.ones(1, 3), gallery, k=2)
    with pytest.raises(ConfigError, match="gallery_features row 2 is all zeros"):
        rank(torch.ones(1, 4), torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0.0, 0, 0, 0]]), k=1)
    with pytest.raises(ConfigError, match=r"query_features contains NaN or infinite values \(.*first in row 1\)"):
        rank(torch.tensor([[1.0, 0, 0, 0], [float("nan"), 0, 0, 0]]), gallery, k=1)


def test_rank_candidates_per_query_lists():
    images = torch.eye(8)
    queries = _scores([[0, 5, 1, 3, 0, 4, 0, 0],    # candidates 1, 3, 5, 2 -> 1 (5), 5 (4), 3 (3), 2 (1)
                       [0, 0, 2, 2, 9, 0, 2, 0],    # candidates 6, 2, 3 tie at 2 -> list order; 4 excluded
                       [1, 0, 0, 0, 0, 0, 0, 3]])   # candidates 7, 0: a shorter list, padded
    candidates = [(1, 3, 5, 2), (6, 4, 2, 3), (0, 7)]
    ranked = rank_candidates(queries, images, candidates, exclude=[-1, 4, 3])
    assert ranked.tolist() == [[1, 5, 3, 2], [6, 2, 3, -1], [7, 0, -1, -1]]
    with pytest.raises(ConfigError, match="query 1 has no candidates"):
        rank_candidates(queries[:2], images, [(1,), ()])
    with pytest.raises(ConfigError, match="repeat an image"):
        rank_candidates(queries[:1], images, [(1, 1)])
    with pytest.raises(ConfigError, match="0..7"):
        rank_candidates(queries[:1], images, [(1, 8)])


# ---------------------------------------------------------------- metrics

RANKING = np.array([[3, 1, 2, 0], [0, 1, 2, 3], [2, 3, 0, 1]])
TARGETS = [(1,), (3, 5), (2,)]


def test_recall_at_k_hand_computed():
    # q0 finds 1 at rank 2; q1 finds 3 (one of its two truths) at rank 4; q2 finds 2 at rank 1.
    assert recall_at_k(RANKING, TARGETS, ks=(1, 2, 3, 4)) == {
        "R@1": pytest.approx(1 / 3), "R@2": pytest.approx(2 / 3), "R@3": pytest.approx(2 / 3), "R@4": 1.0}
    assert recall_at_k(torch.as_tensor(RANKING), [(1, 1, 9)] * 3, ks=(1, 4)) == {
        "R@1": 0.0, "R@4": 1.0}  # duplicates and ids that are never ranked


def test_recall_subset_hand_computed():
    # CIRR: 6 members with the reference (image 4) removed by rank_candidates; target 2 for both queries.
    images = torch.eye(8)
    queries = _scores([[0, 1, 5, 4, 9, 3, 0, 0], [0, 6, 5, 4, 9, 3, 0, 0]])
    members = [(4, 1, 2, 3, 5, 6)] * 2
    ranked = rank_candidates(queries, images, members, exclude=[4, 4])
    assert ranked.tolist() == [[2, 3, 5, 1, 6, -1], [1, 2, 3, 5, 6, -1]]
    assert recall_subset_at_k(ranked, [(2,), (2,)]) == {"R_subset@1": 0.5, "R_subset@2": 1.0, "R_subset@3": 1.0}


def test_map_at_k_hand_computed():
    ranking = np.array([[5, 1, 7, 2, 9], [4, 8, 6, 3, 9]])
    # q0: truths {1, 2, 3}, relevant at ranks 2 and 4: AP@5 = (1/2 + 2/4) / min(3, 5) = 1/3,
    #     AP@2 = (1/2) / min(3, 2) = 1/4.
    # q1: one truth (9) at rank 5, fewer truths than K: AP@5 = (1/5) / 1, AP@2 = 0.
    result = mean_average_precision_at_k(ranking, [(1, 2, 3), (9,)], ks=(2, 5))
    assert result == {"mAP@2": pytest.approx((1 / 4 + 0) / 2), "mAP@5": pytest.approx((1 / 3 + 1 / 5) / 2)}
    # All truths at the top: AP = 1.
    assert mean_average_precision_at_k(ranking[:1], [(5, 1)], ks=(2, 5)) == {"mAP@2": 1.0, "mAP@5": 1.0}


def test_average_over_subsets_weighs_each_subset_the_same():
    per_category = {"dress": {"R@10": 0.2, "R@50": 0.4}, "shirt": {"R@10": 0.3, "R@50": 0.5},
                    "toptee": {"R@10": 0.7, "R@50": 0.9}}
    assert average_over_subsets(per_category) == {"R@10": pytest.approx(0.4), "R@50": pytest.approx(0.6)}
    with pytest.raises(ConfigError, match="different metrics"):
        average_over_subsets({"dress": {"R@10": 0.2}, "shirt": {"R@50": 0.3}})


def test_metrics_reject_what_they_cannot_score():
    with pytest.raises(ConfigError, match="K=5 but the ranking holds only 4"):
        recall_at_k(RANKING, TARGETS, ks=(5,))
    with pytest.raises(ConfigError, match="query 1 .* has no ground truth"):
        recall_at_k(RANKING, [(1,), (), (2,)], ks=(1,))
    with pytest.raises(ConfigError, match="3 rankings but 2 ground-truth lists"):
        mean_average_precision_at_k(RANKING, TARGETS[:2], ks=(1,))
    with pytest.raises(ConfigError, match="integer array"):
        recall_at_k(RANKING.astype(float), TARGETS, ks=(1,))


# ---------------------------------------------------------------- evaluate on hand-built query sets


def _cirr_like() -> tuple[QuerySet, torch.Tensor, torch.Tensor]:
    """10 images; the gallery is images 1..9 (image 0 is a reference outside it); references 0 and 3."""
    query_set = QuerySet(benchmark="cirr", split="val", subset="", images=_images(10), reference=np.array([0, 3]),
                         captions=(("is red",), ("is blue",)), targets=((5,), (7,)), gallery=np.arange(1, 10),
                         candidates=((0, 5, 6, 2, 8, 9), (3, 7, 1, 4, 5, 6)), exclude_reference=True,
                         query_ids=("p0", "p1"))
    queries = _scores([[9, 1, 2, 8, 0, 7, 6, 0, 0, 0],     # gallery order 3, 5, 6, 2, 1, ...
                       [0, 5, 0, 9, 1, 0, 3, 4, 2, 0]])    # 3 is its reference: order 1, 7, 6, 8, 4, ...
    return query_set, torch.eye(10), queries


def test_evaluate_cirr_like_excludes_the_reference_and_maps_gallery_positions():
    query_set, images, queries = _cirr_like()
    ranking = rank_gallery(query_set, images, queries, k=4)
    assert ranking.tolist() == [[3, 5, 6, 2], [1, 7, 6, 8]]
    subsets = rank_subsets(query_set, images, queries)
    assert subsets.tolist() == [[5, 6, 2, 8, 9, -1], [1, 7, 6, 4, 5, -1]]  # images 0 and 3 removed
    result = evaluate(query_set, images, queries, ks={"recall": (1, 2, 3)})
    assert result == {"R@1": 0.0, "R@2": 1.0, "R@3": 1.0,
                      "R_subset@1": 0.5, "R_subset@2": 1.0, "R_subset@3": 1.0}
    with pytest.raises(ConfigError, match="K=50 but the gallery ranks only 8"):
        evaluate(query_set, images, queries)


def test_evaluate_circo_like_map_and_first_truth_recall():
    query_set = QuerySet(benchmark="circo", split="val", subset="", images=_images(8), reference=np.array([0, 1]),
                         captions=(("a",), ("b",)), targets=((4, 2, 6), (7,)), gallery=np.arange(8))
    queries = _scores([[0, 0, 7, 9, 8, 6, 1, 0],           # order 3, 4, 2, 5, 6, 0/1/7
                       [0, 9, 0, 0, 0, 0, 0, 8]])          # order 1, 7, ...
    result = evaluate(query_set, torch.eye(8), queries, ks={"map": (2, 5), "recall_first": (1, 2, 5)})
    # q0: truths {2, 4, 6}, relevant at ranks 2, 3, 5: AP@2 = (1/2)/2, AP@5 = (1/2 + 2/3 + 3/5)/3.
    # q1: truth 7 at rank 2 (no exclusion): AP@2 = (1/2)/1, AP@5 = 1/2.
    assert result["mAP@2"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert result["mAP@5"] == pytest.approx(((1 / 2 + 2 / 3 + 3 / 5) / 3 + 1 / 2) / 2)
    # Recall on the first truth only: q0's first truth (4) is at rank 2; q1's (7) at rank 2.
    assert {k: result[k] for k in ("R@1", "R@2", "R@5")} == {"R@1": 0.0, "R@2": 1.0, "R@5": 1.0}


def test_evaluate_genecis_like_per_query_gallery():
    query_set = QuerySet(benchmark="genecis", split="test", subset="focus_attribute", images=_images(9),
                         reference=np.array([0, 1, 2]), captions=(("red",), ("car",), ("blue",)),
                         targets=((3,), (4,), (8,)), gallery=None,
                         candidates=((3, 5, 6), (4, 6, 7, 5), (8, 3, 4)))
    queries = _scores([[0, 0, 0, 9, 0, 1, 2, 0, 0],        # 3 first
                       [0, 0, 0, 0, 3, 5, 4, 1, 0],        # 5, 6, 4: target third
                       [0, 0, 0, 2, 9, 0, 0, 0, 1]])       # 4, 3, 8: target third
    assert evaluate(query_set, torch.eye(9), queries) == {"R@1": pytest.approx(1 / 3), "R@2": pytest.approx(1 / 3),
                                                          "R@3": 1.0}


def test_hidden_targets_are_refused_but_rankable():
    query_set, images, queries = _cirr_like()
    hidden = QuerySet(benchmark="cirr", split="test1", subset="", images=query_set.images,
                      reference=query_set.reference, captions=query_set.captions, targets=((), ()),
                      gallery=query_set.gallery, candidates=query_set.candidates, exclude_reference=True)
    with pytest.raises(ConfigError, match="hidden targets.*rank_gallery"):
        evaluate(hidden, images, queries)
    assert rank_gallery(hidden, images, queries, k=2).tolist() == [[3, 5], [1, 7]]
    unknown = QuerySet(benchmark="my-bench", split="val", subset="", images=query_set.images,
                       reference=query_set.reference, captions=query_set.captions, targets=query_set.targets,
                       gallery=query_set.gallery)
    with pytest.raises(ConfigError, match="'my-bench'.*no metric definition"):
        evaluate(unknown, images, queries)
    with pytest.raises(ConfigError, match="image_features of cirr \\(val\\) has 9 rows; expected 10"):
        evaluate(query_set, images[:9], queries)


class Planted:
    """A composed method whose query features are given per subset (for the table test)."""

    name = "planted"

    def __init__(self, features: dict[str, torch.Tensor]) -> None:
        self.features = features

    def query_features(self, backbone, query_set, image_features):
        return self.features[query_set.subset]


def test_results_table_averages_fashioniq_categories(tiny_backbone):
    n = 60
    # Per category, 4 queries whose target sits at rank 1, 10, 11 or 51 of the planted scores.
    query_sets, planted = [], {}
    for category, ranks in {"dress": (1, 10, 11, 51), "shirt": (1, 1, 11, 11), "toptee": (51, 51, 51, 2)}.items():
        scores = torch.arange(n, 0, -1, dtype=torch.float32).repeat(4, 1)  # image j has score n - j: order 0, 1, ...
        targets = tuple((r - 1,) for r in ranks)
        query_sets.append(QuerySet(benchmark="fashioniq", split="val", subset=category, images=_images(n),
                                   reference=np.zeros(4, dtype=int), captions=(("a", "b"),) * 4, targets=targets,
                                   gallery=np.arange(n)))
        planted[category] = scores
    table = evaluate_methods([Planted(planted)], tiny_backbone, query_sets, [torch.eye(n)] * 3, progress=False)
    assert list(table.columns[:7]) == ["benchmark", "split", "subset", "method", "n_queries", "R@10", "R@50"]
    rows = table.set_index("subset")
    # R@10: dress 2/4, shirt 2/4, toptee 1/4; R@50: dress 3/4, shirt 4/4, toptee 1/4.
    assert rows.loc["dress", "R@10"] == 0.5 and rows.loc["dress", "R@50"] == 0.75
    assert rows.loc["toptee", "R@10"] == 0.25 and rows.loc["toptee", "R@50"] == 0.25
    assert rows.loc["average", "R@10"] == pytest.approx((0.5 + 0.5 + 0.25) / 3)
    assert rows.loc["average", "R@50"] == pytest.approx((0.75 + 1.0 + 0.25) / 3)
    assert rows.loc["average", "n_queries"] == 12
    assert list(table["subset"]) == ["dress", "shirt", "toptee", "average"]
    assert (table["warning"] == RANDOM_WEIGHTS_MARKER).all()  # random-tiny: every row says so


def test_results_table_without_subsets_has_no_average():
    rows = [{"benchmark": "cirr", "split": "val", "subset": "", "method": m, "n_queries": 3, "R@1": v}
            for m, v in (("image-only", 0.1), ("text-only", 0.2))]
    table = results_table(rows)
    assert table[["method", "R@1"]].values.tolist() == [["image-only", 0.1], ["text-only", 0.2]]
    assert "warning" not in table.columns
