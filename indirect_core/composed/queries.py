"""The query set of one composed-retrieval benchmark split: images, queries (reference + text), ground truth.

Every benchmark loader (the embedded synthetic-shapes-cir and the public CIRR, FashionIQ, CIRCO, GeneCIS)
returns this one type, so ranking, metrics, baselines and mappers never see a benchmark's file format. All
images a split needs (gallery and references) form one ``Dataset``, whose features come from the embedding cache.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.datasets import Dataset
from .._util.errors import ConfigError


@dataclass(frozen=True, eq=False)
class QuerySet:
    """One benchmark split (e.g. CIRR val, FashionIQ dress val, one GeneCIS task).

    Indices (``reference``, ``targets``, ``gallery``, ``candidates``) all point into ``images``.
    """

    benchmark: str                          # registry name, e.g. "cirr", "synthetic-shapes-cir"
    split: str                              # "val", "test", ...
    subset: str                             # FashionIQ category or GeneCIS task; "" when the split is one set
    images: Dataset                         # every image the split needs; labels has a "name" column (image ids)
    reference: np.ndarray                   # (n,) index of each query's reference image
    captions: tuple[tuple[str, ...], ...]   # per query: its modification text(s) (FashionIQ: two)
    targets: tuple[tuple[int, ...], ...]    # per query: every hit, its own target first; () on hidden test splits
    gallery: np.ndarray | None              # images ranked for every query; None: each query has its own candidates
    candidates: tuple[tuple[int, ...], ...] | None = None  # per query: CIRR's subset / GeneCIS's own gallery
    exclude_reference: bool = False         # remove the reference from its own ranking (CIRR, synthetic-shapes-cir)
    query_ids: tuple[str, ...] = ()         # the benchmark's query ids (CIRR pairid, CIRCO id), for submissions
    info: pd.DataFrame = field(default_factory=pd.DataFrame)  # optional per-query columns (e.g. changed factors)

    def __post_init__(self) -> None:
        n = len(self.reference)
        object.__setattr__(self, "reference", np.asarray(self.reference, dtype=np.int64))
        if self.gallery is not None:
            object.__setattr__(self, "gallery", np.asarray(self.gallery, dtype=np.int64))
        checks = {"captions": len(self.captions), "targets": len(self.targets)}
        if self.candidates is not None:
            checks["candidates"] = len(self.candidates)
        if self.query_ids:
            checks["query_ids"] = len(self.query_ids)
        if len(self.info):
            checks["info"] = len(self.info)
        wrong = {name: size for name, size in checks.items() if size != n}
        if wrong:
            raise ConfigError(f"query set {self.name}: {n} references but {wrong}: give one entry per query")
        if self.gallery is None and self.candidates is None:
            raise ConfigError(f"query set {self.name}: give a gallery or per-query candidates")
        top = len(self.images)
        for name, values in (("reference", self.reference), ("gallery", self.gallery)):
            if values is not None and len(values) and (values.min() < 0 or values.max() >= top):
                raise ConfigError(f"query set {self.name}: {name} indices must lie in 0..{top - 1}")

    @property
    def name(self) -> str:
        """Display name: benchmark, subset and split, e.g. ``fashioniq/dress (val)``."""
        return f"{self.benchmark}{'/' + self.subset if self.subset else ''} ({self.split})"

    def take(self, queries: object) -> "QuerySet":
        """The same split with only the queries at ``queries`` (indices, in that order); images, gallery and
        every other setting unchanged."""
        chosen = np.asarray(queries, dtype=np.int64).reshape(-1)
        if len(chosen) and (chosen.min() < 0 or chosen.max() >= len(self)):
            raise ConfigError(f"query set {self.name}: query indices must lie in 0..{len(self) - 1}")
        picked = chosen.tolist()
        return QuerySet(self.benchmark, self.split, self.subset, self.images, self.reference[chosen],
                        tuple(self.captions[i] for i in picked), tuple(self.targets[i] for i in picked), self.gallery,
                        None if self.candidates is None else tuple(self.candidates[i] for i in picked),
                        self.exclude_reference, tuple(self.query_ids[i] for i in picked) if self.query_ids else (),
                        self.info.iloc[chosen].reset_index(drop=True) if len(self.info) else pd.DataFrame())

    @property
    def has_ground_truth(self) -> bool:
        """False on test splits whose targets are hidden (scored by the benchmark's server)."""
        return any(len(t) for t in self.targets)

    def __len__(self) -> int:
        return len(self.reference)
