"""Score composed query features on a benchmark split with the metrics that benchmark reports, and tabulate
several methods and query sets (the notebook's results table).

Which metrics a benchmark reports (``BENCHMARK_METRICS``, keyed by ``QuerySet.benchmark``):
synthetic-shapes-cir and CIRR: R@1/5/10/50 over the gallery + R_subset@1/2/3 over each query's subset;
FashionIQ: R@10/R@50 (the average over categories is a row of ``results_table``); CIRCO: mAP@5/10/25/50 + R@K
on each query's first target (its ``target_img_id``, which the loader puts first); GeneCIS: R@1/2/3 over each query's own gallery. The reference is removed from its own
ranking where ``QuerySet.exclude_reference`` says so. Hidden test splits are refused; their rankings come from
``rank_gallery`` / ``rank_subsets`` (for the submission writers).
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..backbone import Backbone
from .._util.errors import ConfigError
from .._util.progress import progress_bar
from .baselines import ComposedMethod, gallery_features, query_features as method_query_features, resolve_method
from .metrics import (FASHIONIQ_KS, GENECIS_KS, MAP_KS, RECALL_KS, SUBSET_KS, average_over_subsets,
                      mean_average_precision_at_k, recall_at_k, recall_subset_at_k)
from .queries import QuerySet
from .ranking import feature_matrix, rank, rank_candidates

FAMILIES: dict[str, str] = {
    "recall": "R@K over the gallery; a hit is any ground truth in the top K",
    "recall_first": "R@K over the gallery on each query's first target only (CIRCO: its target_img_id)",
    "map": "mAP@K over the gallery (CIRCO)",
    "recall_subset": "R_subset@K over each query's candidates, the reference removed (CIRR)",
    "recall_candidates": "R@K over each query's own gallery of candidates (GeneCIS)",
}
"""Metric families ``evaluate`` knows, each computed from one ranking."""

BENCHMARK_METRICS: dict[str, dict[str, tuple[int, ...]]] = {
    "synthetic-shapes-cir": {"recall": RECALL_KS, "recall_subset": SUBSET_KS},
    "cirr": {"recall": RECALL_KS, "recall_subset": SUBSET_KS},
    "fashioniq": {"recall": FASHIONIQ_KS},
    "circo": {"map": MAP_KS, "recall_first": MAP_KS},
    "genecis": {"recall_candidates": GENECIS_KS},
}
"""Per benchmark (``QuerySet.benchmark``): the metric families it reports and their K values."""

_GALLERY_FAMILIES = ("recall", "recall_first", "map")
_CANDIDATE_FAMILIES = ("recall_subset", "recall_candidates")
TABLE_KEYS = ("benchmark", "split", "subset", "method", "n_queries")
"""The leading columns of ``results_table``; the metric columns follow."""
AVERAGE_SUBSET = "average"
"""The ``subset`` value of the rows that average a benchmark split's subsets."""


def metric_plan(query_set: QuerySet, ks: Mapping[str, Sequence[int]] | None = None) -> dict[str, tuple[int, ...]]:
    """The families and K values ``evaluate`` computes for ``query_set``: its benchmark's, with ``ks`` overriding."""
    if query_set.benchmark not in BENCHMARK_METRICS:
        raise ConfigError(f"benchmark {query_set.benchmark!r} of {query_set.name} has no metric definition: use "
                          f"one of {list(BENCHMARK_METRICS)} (or add it to BENCHMARK_METRICS)")
    plan = dict(BENCHMARK_METRICS[query_set.benchmark])
    for family, values in (ks or {}).items():
        if family not in plan:
            raise ConfigError(f"ks has family {family!r}, which {query_set.benchmark} does not report: use "
                              f"{list(plan)}")
        plan[family] = tuple(int(k) for k in values)
    if any(plan[f] for f in _CANDIDATE_FAMILIES if f in plan) and query_set.candidates is None:
        raise ConfigError(f"{query_set.name} has no per-query candidates, which "
                          f"{[f for f in plan if f in _CANDIDATE_FAMILIES]} need")
    if any(plan[f] for f in _GALLERY_FAMILIES if f in plan) and query_set.gallery is None:
        raise ConfigError(f"{query_set.name} has no shared gallery, which "
                          f"{[f for f in plan if f in _GALLERY_FAMILIES]} need")
    return plan


def rank_gallery(query_set: QuerySet, image_features: object, query_features: object, k: int,
                 chunk_size: int = 1024) -> torch.Tensor:
    """Top-``k`` image indices (into ``query_set.images``) per query over the split's gallery, best first; the
    reference is left out when ``query_set.exclude_reference``."""
    if query_set.gallery is None:
        raise ConfigError(f"{query_set.name} has no shared gallery: rank its candidates with rank_subsets")
    images = feature_matrix(image_features, f"image_features of {query_set.name}", len(query_set.images))
    queries = feature_matrix(query_features, f"query_features of {query_set.name}", len(query_set))
    gallery = torch.as_tensor(query_set.gallery)
    exclude = None
    if query_set.exclude_reference:
        position = np.full(len(query_set.images), -1, dtype=np.int64)
        position[query_set.gallery] = np.arange(len(query_set.gallery))
        exclude = position[query_set.reference]
    return gallery[rank(queries, images[gallery], k, exclude=exclude, chunk_size=chunk_size)]


def rank_subsets(query_set: QuerySet, image_features: object, query_features: object,
                 chunk_size: int = 1024) -> torch.Tensor:
    """Each query's candidates ranked (image indices, best first, -1 padding); the reference is left out when
    ``query_set.exclude_reference`` (CIRR's Recall_subset)."""
    if query_set.candidates is None:
        raise ConfigError(f"{query_set.name} has no per-query candidates to rank")
    images = feature_matrix(image_features, f"image_features of {query_set.name}", len(query_set.images))
    queries = feature_matrix(query_features, f"query_features of {query_set.name}", len(query_set))
    exclude = query_set.reference if query_set.exclude_reference else None
    return rank_candidates(queries, images, query_set.candidates, exclude=exclude, chunk_size=chunk_size)


def evaluate(query_set: QuerySet, image_features: object, query_features: object,
             ks: Mapping[str, Sequence[int]] | None = None) -> dict[str, float]:
    """The benchmark's metrics (fractions in [0, 1]) of ``query_features`` (n, d) on ``query_set``.

    ``image_features`` are the features of ``query_set.images`` (rows aligned) the queries are ranked against:
    the raw CLIP features, or a method's own embedding of them (``baselines.gallery_features``). ``ks`` overrides
    K per family, e.g. ``{"recall": (1, 5)}`` (families: ``FAMILIES``).
    """
    if not query_set.has_ground_truth:
        raise ConfigError(f"{query_set.name} has hidden targets (a test split scored by the benchmark's server): "
                          "it cannot be evaluated here; write a submission from rank_gallery / rank_subsets")
    missing = [i for i, t in enumerate(query_set.targets) if not len(t)]
    if missing:
        raise ConfigError(f"{query_set.name}: {len(missing)} queries (first: {missing[0]}) have no ground truth, "
                          "so the metrics are undefined: drop them from the query set")
    image_features = feature_matrix(image_features, f"image_features of {query_set.name}", len(query_set.images))
    query_features = feature_matrix(query_features, f"query_features of {query_set.name}", len(query_set))
    plan = metric_plan(query_set, ks)
    results: dict[str, float] = {}
    gallery_k = max((max(plan[f]) for f in _GALLERY_FAMILIES if plan.get(f)), default=0)
    if gallery_k:
        available = len(query_set.gallery) - int(query_set.exclude_reference)
        if gallery_k > available:
            raise ConfigError(f"{query_set.name}: K={gallery_k} but the gallery ranks only {available} images "
                              "per query: pass ks with smaller K, e.g. ks={'recall': (1, 5)}")
        ranking = rank_gallery(query_set, image_features, query_features, gallery_k)
        if plan.get("recall"):
            results.update(recall_at_k(ranking, query_set.targets, plan["recall"]))
        if plan.get("map"):
            results.update(mean_average_precision_at_k(ranking, query_set.targets, plan["map"]))
        if plan.get("recall_first"):
            results.update(recall_at_k(ranking, [t[:1] for t in query_set.targets], plan["recall_first"]))
    if any(plan.get(f) for f in _CANDIDATE_FAMILIES):
        ranking = rank_subsets(query_set, image_features, query_features)
        if plan.get("recall_subset"):
            results.update(recall_subset_at_k(ranking, query_set.targets, plan["recall_subset"]))
        if plan.get("recall_candidates"):
            results.update(recall_at_k(ranking, query_set.targets, plan["recall_candidates"]))
    return results


def evaluate_groups(query_set: QuerySet, image_features: object, query_features: object,
                    groups: Mapping[str, Sequence[int]], ks: Mapping[str, Sequence[int]] | None = None
                    ) -> list[dict]:
    """``evaluate`` on each group of queries (e.g. per changed factor): one row per group with ``group``,
    ``n_queries`` and the metrics; K values larger than a group's gallery allows fail as in ``evaluate``."""
    queries = feature_matrix(query_features, f"query_features of {query_set.name}", len(query_set))
    rows = []
    for label, members in groups.items():
        members = np.asarray(members, dtype=np.int64)
        rows.append({"group": label, "n_queries": len(members),
                     **evaluate(query_set.take(members), image_features, queries[torch.as_tensor(members)], ks)})
    return rows


def changed_groups(query_set: QuerySet, factors: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Query indices per combination of changed factors (``QuerySet.info["changed"]``, "+"-joined): a combination
    is the same whatever order the text names its factors in (written in ``factors`` order, else in order of first
    appearance); one-factor combinations first, then by first query."""
    recorded = [[f for f in str(c).split("+") if f] for c in query_set.info["changed"]]
    order = list(factors) if factors is not None else list(dict.fromkeys(f for fs in recorded for f in fs))
    labels = ["+".join(sorted(fs, key=lambda f: order.index(f) if f in order else len(order))) for fs in recorded]
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    return {label: np.asarray(members) for label, members in sorted(groups.items(),
                                                                     key=lambda kv: (len(kv[0].split("+")), kv[1][0]))}


def results_table(rows: Iterable[Mapping[str, object]], caveat: str | None = None) -> pd.DataFrame:
    """Tidy table: one row per (benchmark, split, subset, method) with the metric columns, plus one
    ``subset="average"`` row per method wherever a benchmark split has several subsets (FashionIQ's headline).

    Each input row holds ``TABLE_KEYS`` and metric values. With a ``caveat`` (the backbone's, ``_util.caveats``)
    every row's ``warning`` says it.
    """
    rows = [dict(r) for r in rows]
    if not rows:
        raise ConfigError("no results to tabulate")
    lacking = [k for k in TABLE_KEYS if k not in rows[0]]
    if lacking:
        raise ConfigError(f"result rows need the keys {list(TABLE_KEYS)}; the first lacks {lacking}")
    metrics = list(dict.fromkeys(k for r in rows for k in r if k not in TABLE_KEYS))
    out: list[dict] = []
    for (benchmark, split), group in _groups(rows, ("benchmark", "split")).items():
        out.extend(group)
        subsets = list(dict.fromkeys(r["subset"] for r in group))
        if len(subsets) < 2:
            continue
        for method, mine in _groups(group, ("method",)).items():
            per_subset = {r["subset"]: {m: r[m] for m in metrics if m in r} for r in mine}
            if list(per_subset) != subsets:
                continue  # a method not run on every subset gets no average
            average = average_over_subsets(per_subset)
            out.append({"benchmark": benchmark, "split": split, "subset": AVERAGE_SUBSET, "method": method[0],
                        "n_queries": int(sum(r["n_queries"] for r in mine)), **average})
    table = pd.DataFrame(out, columns=[*TABLE_KEYS, *metrics])
    if caveat:
        table["warning"] = caveat
        table.attrs["warning"] = caveat
    return table


def _groups(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    """Rows grouped by ``keys`` in order of first appearance."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


def evaluate_methods(methods: Sequence[ComposedMethod | str], backbone: Backbone, query_sets: Sequence[QuerySet],
                     image_features: Sequence[object] | Callable[[QuerySet], object],
                     ks: Mapping[str, Sequence[int]] | None = None, progress: bool = True) -> pd.DataFrame:
    """Every method on every query set, as ``results_table`` (random-weight backbones are marked).

    ``image_features``: one entry per query set (rows aligned with its images), or a function of the query set,
    e.g. ``lambda qs: ic.image_features(backbone, qs.images)``.
    """
    methods = [resolve_method(m) for m in methods]
    if not methods or not query_sets:
        raise ConfigError("give at least one method and one query set")
    if not callable(image_features) and len(image_features) != len(query_sets):
        raise ConfigError(f"{len(query_sets)} query sets but {len(image_features)} image feature entries: give one "
                          "per query set, or a function query_set -> features")
    rows = []
    bar = progress_bar(total=len(methods) * len(query_sets), desc="composed retrieval", unit="eval",
                       disable=not progress, leave=False)
    with bar:
        for number, query_set in enumerate(query_sets):
            features = image_features(query_set) if callable(image_features) else image_features[number]
            features = feature_matrix(features, f"image_features of {query_set.name}", len(query_set.images))
            for method in methods:
                gallery = gallery_features(method, backbone, query_set, features)
                queries = method_query_features(method, backbone, query_set, features, gallery)
                rows.append({"benchmark": query_set.benchmark, "split": query_set.split, "subset": query_set.subset,
                             "method": method.name, "n_queries": len(query_set),
                             **evaluate(query_set, gallery, queries, ks)})
                bar.update(1)
    return results_table(rows, caveat=backbone.caveat)
