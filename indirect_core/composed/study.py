"""One benchmark's composed-retrieval study, as notebook 05 runs it: load the query sets, take the image
features from the embedding cache, build the methods (baselines by name, mappers from checkpoints), score each
method on each query set, or write the server submissions of a hidden test split.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd
import torch

from ..backbone import Backbone
from ..features.cache import image_features
from .._util.errors import ConfigError
from .._util.progress import progress_bar
from .baselines import BASELINES, ComposedMethod, query_features
from .benchmarks import load_benchmark, write_circo_submission, write_cirr_submission
from .evaluate import evaluate, rank_gallery, rank_subsets, results_table
from .methods import METHODS, mapper_method
from .queries import QuerySet

SUBMISSION_K = 50
"""How many gallery images a server submission lists per query (CIRR and CIRCO take the top 50)."""


def method_keys() -> list[str]:
    """Every method a plan or notebook can name: the three baselines, then the mappers' keys."""
    return [*BASELINES, *METHODS]


def resolve_methods(names: Sequence[str], mappers: Mapping[str, str | Path], backbone: Backbone
                    ) -> list[ComposedMethod]:
    """Method objects for ``names``: baselines by name, Pic2Word / LinCIR from the checkpoint in ``mappers``."""
    methods = []
    for name in names:
        if name in BASELINES:
            methods.append(BASELINES[name])
        elif name in METHODS:
            if name not in mappers:
                raise ConfigError(f"method {name!r} needs a mapper checkpoint: pass mappers={{'{name}': "
                                  "'path/to/mapper.pt'}} (notebook 06 trains one)")
            methods.append(mapper_method(mappers[name], backbone))
        else:
            raise ConfigError(f"unknown composed-retrieval method {name!r}: use some of {method_keys()}")
    return methods


@dataclass
class ComposedStudy:
    """What one benchmark run produced: the table (hidden splits: empty), the query sets with their image
    features, each method's query features and any submission files written."""

    table: pd.DataFrame
    query_sets: list[QuerySet]
    image_features: list[torch.Tensor]
    query_features: list[dict[str, torch.Tensor]]
    methods: list[ComposedMethod]
    submissions: list[Path] = field(default_factory=list)


def run_benchmark(backbone: Backbone, benchmark: str, methods: Sequence[str], mappers: Mapping[str, str] | None = None,
                  split: str | None = None, layout: str = "auto", data_root: str | Path | None = None,
                  options: Mapping | None = None, ks: Mapping[str, Sequence[int]] | None = None,
                  cache_dir: str | Path | None = None, batch_size: int = 64, num_workers: int = 0,
                  submission_dir: str | Path | None = None, progress: bool = True) -> ComposedStudy:
    """Every method on every query set of ``benchmark`` (FashionIQ: three categories, GeneCIS: four tasks).

    A split with hidden targets (CIRR test1, CIRCO test) is not scored: its submissions are written into
    ``submission_dir`` instead, one set of files per method.
    """
    resolved = resolve_methods(methods, mappers or {}, backbone)
    query_sets = load_benchmark(benchmark, root=data_root, split=split, layout=layout, **dict(options or {}))
    features, per_set, rows, submissions = [], [], [], []
    for query_set in query_sets:
        cached = image_features(backbone, query_set.images, cache_dir=cache_dir, batch_size=batch_size,
                                num_workers=num_workers, progress=progress)
        features.append(cached.features)
        per_set.append({})
    bar = progress_bar(total=len(resolved) * len(query_sets), desc=f"composed retrieval on {benchmark}",
                       unit="eval", disable=not progress)
    with bar:
        for query_set, images, queries in zip(query_sets, features, per_set):
            for method in resolved:
                queries[method.name] = query_features(method, backbone, query_set, images)
                if query_set.has_ground_truth:
                    rows.append({"benchmark": query_set.benchmark, "split": query_set.split,
                                 "subset": query_set.subset, "method": method.name, "n_queries": len(query_set),
                                 **evaluate(query_set, images, queries[method.name], ks)})
                else:
                    submissions += _submit(query_set, images, queries[method.name], method.name, submission_dir)
                bar.update(1)
    table = results_table(rows, caveat=backbone.caveat) if rows else pd.DataFrame()
    return ComposedStudy(table, query_sets, features, per_set, resolved, submissions)


def _submit(query_set: QuerySet, images: torch.Tensor, queries: torch.Tensor, method: str,
            folder: str | Path | None) -> list[Path]:
    """The server files of a hidden test split for one method (CIRR: recall + recall_subset; CIRCO: one)."""
    if folder is None:
        raise ConfigError(f"{query_set.name} has hidden targets: pass submission_dir to write its submission files")
    stem = Path(folder) / f"submission-{query_set.benchmark}-{query_set.split}-{method.replace(' ', '')}"
    ranking = rank_gallery(query_set, images, queries, min(SUBMISSION_K, len(query_set.gallery) - 1))
    if query_set.benchmark == "cirr":
        files = write_cirr_submission(query_set, ranking, rank_subsets(query_set, images, queries), stem.parent,
                                      name=stem.name)
        return list(files.values())
    if query_set.benchmark == "circo":
        return [write_circo_submission(query_set, ranking, stem.with_suffix(".json"))]
    raise ConfigError(f"{query_set.name} has hidden targets but no submission format: evaluate a split with "
                      "ground truth")
