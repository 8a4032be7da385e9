"""One benchmark's composed-retrieval study, as notebook 05 runs it: load the query sets, take the image
features from the embedding cache, build the methods (baselines by name, mappers from checkpoints, InDiReCT-CIR
from the benchmark's notions), score each method on each query set, or write the server submissions of a hidden
test split. Where the queries record their changed factors (synthetic-shapes-cir) the scores are also broken down
by changed factor(s), and InDiReCT-CIR's automatic routing is scored against the recorded factors.
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
from .baselines import BASELINES, ComposedMethod, gallery_features, query_features
from .benchmarks import load_benchmark, write_circo_submission, write_cirr_submission
from .evaluate import changed_groups, evaluate, evaluate_groups, rank_gallery, rank_subsets, results_table
from .methods import METHODS, mapper_method
from .notion_composed import NotionComposed, routing_accuracy
from .notion_spaces import DEFAULT_SOLVER, fit_notion_spaces
from .queries import QuerySet

SUBMISSION_K = 50
"""How many gallery images a server submission lists per query (CIRR and CIRCO take the top 50)."""


NOTION_METHODS: dict[str, str] = {"notion-composed": "auto", "notion-composed-oracle": "oracle"}
"""InDiReCT-CIR's keys and their routing: from the text and the prompts, or the recorded changed factors."""


def method_keys() -> list[str]:
    """Every method a plan or notebook can name: the three baselines, the mappers' keys, then InDiReCT-CIR's."""
    return [*BASELINES, *METHODS, *NOTION_METHODS]


def benchmark_notions(benchmark: str) -> list:
    """The notions InDiReCT-CIR uses on ``benchmark`` (registered under its name in ``data.notions``)."""
    from ..data.notions import notions_for

    notions = notions_for(benchmark)
    if not notions:
        raise ConfigError(f"InDiReCT-CIR has no notions for benchmark {benchmark!r}: it has them for "
                          "synthetic-shapes-cir and genecis (data.notions); register notions under the benchmark's "
                          "name with data.notions.register_notion")
    return notions


def resolve_methods(names: Sequence[str], mappers: Mapping[str, str | Path], backbone: Backbone,
                    benchmark: str | None = None, solver: str = DEFAULT_SOLVER, n_components: int = 128,
                    seed: int = 0, notes: list[str] | None = None) -> list[ComposedMethod]:
    """Method objects for ``names``: baselines by name, Pic2Word / LinCIR from the checkpoint in ``mappers``,
    InDiReCT-CIR from the benchmark's notions (one space per notion, fitted once on its prompts with ``solver``,
    ``n_components`` and ``seed``, shared by both routings). With a ``notes`` list, InDiReCT-CIR on a benchmark
    without notions is left out and said so there instead of failing."""
    methods, spaces = [], None
    for name in names:
        if name in BASELINES:
            methods.append(BASELINES[name])
        elif name in METHODS:
            if name not in mappers:
                raise ConfigError(f"method {name!r} needs a mapper checkpoint: pass mappers={{'{name}': "
                                  "'path/to/mapper.pt'}} (notebook 06 trains one)")
            methods.append(mapper_method(mappers[name], backbone))
        elif name in NOTION_METHODS:
            if benchmark is None:
                raise ConfigError(f"method {name!r} fits its spaces on a benchmark's notions: pass benchmark=")
            if spaces is None:
                try:
                    notions = benchmark_notions(benchmark)
                except ConfigError as error:
                    if notes is None:
                        raise
                    notes.append(f"{name} left out: {error}")
                    continue
                spaces = tuple(fit_notion_spaces(backbone, notions, solver=solver, n_components=n_components,
                                                 random_state=seed))
            methods.append(NotionComposed(spaces, routing=NOTION_METHODS[name]))
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
    galleries: list[dict[str, torch.Tensor]] = field(default_factory=list)
    """Per query set, the images in the space of each method that has its own (InDiReCT-CIR)."""
    by_changed: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Scores per method and combination of changed factors (query sets that record them)."""
    routing: pd.DataFrame = field(default_factory=pd.DataFrame)
    """InDiReCT-CIR's routing accuracy per combination of changed factors (query sets that record them)."""
    notions: pd.DataFrame = field(default_factory=pd.DataFrame)
    """InDiReCT-CIR's notion spaces: prompts, words, solver, overlap with the labels or conditions."""
    notes: list[str] = field(default_factory=list)
    """Methods left out of a query set, and why."""

    def gallery(self, index: int, method: str) -> torch.Tensor:
        """The image rows ``method``'s queries rank against on query set ``index``."""
        return self.galleries[index].get(method, self.image_features[index]) if self.galleries \
            else self.image_features[index]


def run_benchmark(backbone: Backbone, benchmark: str, methods: Sequence[str], mappers: Mapping[str, str] | None = None,
                  split: str | None = None, layout: str = "auto", data_root: str | Path | None = None,
                  options: Mapping | None = None, ks: Mapping[str, Sequence[int]] | None = None,
                  cache_dir: str | Path | None = None, batch_size: int = 64, num_workers: int = 0,
                  submission_dir: str | Path | None = None, progress: bool = True, solver: str = DEFAULT_SOLVER,
                  n_components: int = 128, seed: int = 0) -> ComposedStudy:
    """Every method on every query set of ``benchmark`` (FashionIQ: three categories, GeneCIS: four tasks).

    A split with hidden targets (CIRR test1, CIRCO test) is not scored: its submissions are written into
    ``submission_dir`` instead, one set of files per method. ``solver``, ``n_components`` and ``seed`` are
    InDiReCT-CIR's (its spaces are fitted on the prompts before any image is read). A method that cannot run on
    a query set (oracle routing where no changed factors are recorded) is left out of it, with a note.
    """
    notes: list[str] = []
    resolved = resolve_methods(methods, mappers or {}, backbone, benchmark, solver, n_components, seed, notes)
    query_sets = load_benchmark(benchmark, root=data_root, split=split, layout=layout, **dict(options or {}))
    features, per_set, galleries, rows, submissions = [], [], [], [], []
    by_changed, routing, notions = [], [], []
    for query_set in query_sets:
        cached = image_features(backbone, query_set.images, cache_dir=cache_dir, batch_size=batch_size,
                                num_workers=num_workers, progress=progress)
        features.append(cached.features)
        per_set.append({})
        galleries.append({})
    bar = progress_bar(total=len(resolved) * len(query_sets), desc=f"composed retrieval on {benchmark}",
                       unit="eval", disable=not progress)
    with bar:
        for query_set, images, queries, own in zip(query_sets, features, per_set, galleries):
            keys = {"benchmark": query_set.benchmark, "split": query_set.split, "subset": query_set.subset}
            groups = _changed_groups(query_set)
            for method in resolved:
                why = method.applicable(query_set) if hasattr(method, "applicable") else None
                if why:
                    notes.append(why)
                    bar.update(1)
                    continue
                gallery = gallery_features(method, backbone, query_set, images)
                if hasattr(method, "embed_images"):
                    own[method.name] = gallery
                queries[method.name] = query_features(method, backbone, query_set, images, gallery)
                if query_set.has_ground_truth:
                    rows.append({**keys, "method": method.name, "n_queries": len(query_set),
                                 **evaluate(query_set, gallery, queries[method.name], ks)})
                    if groups:
                        by_changed += [{**keys, "method": method.name, "changed": r.pop("group"), **r}
                                       for r in evaluate_groups(query_set, gallery, queries[method.name], groups, ks)]
                else:
                    submissions += _submit(query_set, gallery, queries[method.name], method.name, submission_dir)
                if isinstance(method, NotionComposed) and method.routing == "auto":
                    notions.append(method.prompt_table(query_set).assign(**keys))
                    if groups:
                        routing.append(routing_accuracy(method, backbone, query_set, groups).assign(method=method.name,
                                                                                          **keys))
                bar.update(1)
    table = results_table(rows, caveat=backbone.caveat) if rows else pd.DataFrame()
    study = ComposedStudy(table, query_sets, features, per_set, resolved, submissions, galleries,
                          _marked(pd.DataFrame(by_changed), backbone), _marked(_concat(routing), backbone),
                          _concat(notions), list(dict.fromkeys(notes)))
    return study


def _changed_groups(query_set: QuerySet) -> dict:
    """The queries per combination of changed factors, where the query set records them ({} otherwise)."""
    if "changed" not in query_set.info.columns:
        return {}
    factors = None
    if query_set.benchmark == "synthetic-shapes-cir":
        from .synthetic import FACTORS as factors
    return changed_groups(query_set, factors)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _marked(table: pd.DataFrame, backbone: Backbone) -> pd.DataFrame:
    """A table made with a stand-in backbone says its caveat in a ``warning`` column, as ``results_table`` does."""
    if backbone.caveat and len(table):
        table = table.assign(warning=backbone.caveat)
    return table


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
