"""A study: one dataset's notions × models × seeds, evaluated (``evaluate_notions``), with the spaces it fitted.

Writing it as tables + provenance is the report layer's (``report.results``); the plain-script job that does
both is ``report.results.run_study``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd
import torch

from ..backbone import Backbone
from .._util.caveats import caveat_of
from ..features.cache import ImageFeatures, image_features
from ..data.datasets import Dataset, load_dataset
from .._util.errors import ConfigError
from .experiment import DEFAULT_MODELS, default_n_jobs, parallel_fits, run_notion, summarize
from ..core.models import INDIRECT_KEYS, MODELS, Reducer, display_name, make_model
from ..core.neighbours import nearest_neighbours
from ..core.projections import load_projection
from ..data.notions import Notion, get_notion, label_overlap, notions_for, prepare_notion, prompt_subset


@dataclass
class StudyResult:
    """Runs (one row per notion × model × seed), their summary, and what produced them.

    ``spaces[notion][model]`` is the model fitted with the first seed, exactly as evaluated (figures use it);
    ``indirect_fits[notion][(model, seed)]`` every fitted InDiReCT space (both solvers), for the cross-notion
    matrix; ``overlaps[notion]`` says how many prompt words equal an evaluation label.
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    prompts: dict[str, list[str]]
    backbone: dict
    dataset: dict
    settings: dict = field(default_factory=dict)
    spaces: dict[str, dict[str, Reducer]] = field(default_factory=dict, repr=False)
    overlaps: dict[str, dict] = field(default_factory=dict)
    notions: dict[str, Notion] = field(default_factory=dict, repr=False)
    indirect_fits: dict[str, dict[tuple[str, int], Reducer]] = field(default_factory=dict, repr=False)

    @property
    def caveat(self) -> str | None:
        """The backbone's caveat (``_util.caveats``): what every table of this study says about itself."""
        return caveat_of(self.backbone)


def fit_space(backbone: Backbone, notion: Notion, model: str = "indirect", n_components: int = 128,
              seed: int = 0, model_options: Mapping[str, Any] | None = None, n_prompts: int | None = None,
              progress: bool = False) -> tuple[Reducer, list[str]]:
    """One notion's space fitted on its prompts (a subset of ``n_prompts`` drawn by ``seed`` if given) with
    the same settings as the evaluation's first repetition; returns the model and the prompts it saw."""
    prompts = prompt_subset(notion.prompts, n_prompts, seed)
    options = {**(model_options or {}), **({"progress": progress} if "progress" in MODELS[model]._get_param_names()
                                           else {})}
    fitted = make_model(model, n_components=n_components, random_state=seed, **options)
    fitted.fit(backbone.encode_texts(prompts))
    fitted.backbone_ = backbone.identity()
    return fitted, prompts


def notion_space(backbone: Backbone, notion: Notion, projection: str | Path | None = None,
                 **fit_settings: Any) -> Reducer:
    """A notion's space: the projection file of notebook 02 when given (refused if made with another
    backbone), else fitted with ``fit_space(**fit_settings)`` (the evaluation's settings)."""
    if projection:
        model, _ = load_projection(projection, backbone=backbone.identity())
        return model
    return fit_space(backbone, notion, **fit_settings)[0]


def evaluate_notions(backbone: Backbone, data: Dataset, features: torch.Tensor, notions: Sequence[Notion],
                     models: Iterable[str] = DEFAULT_MODELS, seeds: Iterable[int] = range(5),
                     n_components: int = 128, model_options: Mapping[str, Mapping[str, Any]] | None = None,
                     n_prompts: int | None = None, prompt_words: str = "all", n_jobs: int | str = "auto",
                     progress: bool = True) -> StudyResult:
    """Embed each notion's prompts, then run every model × seed on the image features.

    ``n_prompts``: use a random subset of that many prompts, drawn afresh for each seed (the paper's
    prompt analysis); ``None`` uses all prompts. ``prompt_words="strict"`` drops prompt words that equal an
    evaluation label. ``n_jobs``: worker processes for the Adam-trained fits ("auto": one per core from
    ``PARALLEL_MIN_IMAGES`` images on, else none).
    """
    models, seeds = list(models), list(seeds)
    runs, prompts, spaces, overlaps, used, fits = [], {}, {}, {}, {}, {}
    if not any(MODELS[m].parallel_fit for m in models) or (n_jobs == "auto" and len(features) < PARALLEL_MIN_IMAGES):
        n_jobs = 1  # nothing to spread, or fits too small to pay for starting worker processes
    with parallel_fits(n_jobs) as executor:
        for notion in notions:
            overlaps[notion.name] = label_overlap(notion, data)
            notion = used[notion.name] = prepare_notion(notion, data, prompt_words)
            overlaps[notion.name]["n_words_used"] = len(notion.words)
            kept = spaces[notion.name] = {}
            every: dict[tuple[str, int], Reducer] = {}
            subsets = [(seeds, prompt_subset(notion.prompts, None, 0))] if n_prompts is None else \
                [([seed], prompt_subset(notion.prompts, n_prompts, seed)) for seed in seeds]
            prompts[notion.name] = notion.prompts
            for run_seeds, subset in subsets:
                if n_prompts is not None:
                    prompts[f"{notion.name} (seed {run_seeds[0]})"] = subset
                runs.append(run_notion(notion.name, backbone.encode_texts(subset), features, notion.labels(data),
                                       models=models, seeds=run_seeds, n_components=n_components,
                                       model_options=model_options, progress=progress, executor=executor,
                                       keep=kept if run_seeds[0] == seeds[0] else None, keep_every=every))
            fits[notion.name] = {fit: model for fit, model in every.items() if fit[0] in INDIRECT_KEYS}
    all_runs = pd.concat(runs, ignore_index=True)
    summary = summarize(all_runs)
    if backbone.caveat:
        all_runs.insert(0, "weights", backbone.caveat)
    settings = {"models": models, "seeds": seeds, "n_components": n_components, "n_prompts": n_prompts,
                "prompt_words": prompt_words, "notions": [n.name for n in notions],
                "model_options": dict(model_options or {}),
                "fit_workers": 0 if n_jobs == 1 else default_n_jobs() if n_jobs in ("auto", None) else n_jobs}
    return StudyResult(all_runs, summary, prompts, backbone.identity(), data.identity(), settings, spaces,
                       overlaps, used, fits)


def evaluation_data(backbone: Backbone, dataset: str, data_root: str | Path | None = None,
                    dataset_options: Mapping[str, Any] | None = None, cache_dir: str | Path | None = None,
                    batch_size: int = 64, num_workers: int = 1, on_error: str = "raise",
                    progress: bool = True) -> tuple[Dataset, ImageFeatures]:
    """The dataset as every notebook evaluates it: its cached image features and, with ``on_error="skip"``,
    only the images that could be read (their labels follow), so all notebooks see the same images."""
    data = load_dataset(dataset, root=data_root, **dict(dataset_options or {}))
    cached = image_features(backbone, data, cache_dir=cache_dir, batch_size=batch_size, num_workers=num_workers,
                            on_error=on_error, progress=progress)
    return cached.apply_to(data), cached


PARALLEL_MIN_IMAGES = 500
"""With ``n_jobs="auto"``, smaller sets fit in this process: starting workers would cost more than it saves."""


def neighbour_panels(result: StudyResult, data: Dataset, features: torch.Tensor, queries: Sequence[int],
                     k: int = 5, model: str | None = None) -> tuple[dict, dict]:
    """Neighbour images of each query under raw CLIP and under each notion's evaluated space (the first seed's
    fitted ``model``, by default the first InDiReCT model evaluated), with same-label flags per notion."""
    model = model or next((m for m in INDIRECT_KEYS if m in result.settings["models"]), None)
    if model is None:
        raise ConfigError(f"neighbour_panels needs an InDiReCT model among the evaluated models "
                          f"{result.settings['models']}: add 'indirect' or 'indirect-lbfgs'")
    paths = [str(p) for p in data.image_paths]
    rows = nearest_neighbours(features, queries, k=k)
    neighbours, correct = {"CLIP": [[paths[j] for j in row] for row in rows]}, {}
    for notion, spaces in result.spaces.items():
        if model not in spaces:
            continue
        labels = result.notions[notion].labels(data)
        rows = nearest_neighbours(spaces[model].transform(features), queries, k=k)
        name = f"{display_name(model)}: {notion}"
        neighbours[name] = [[paths[j] for j in row] for row in rows]
        correct[name] = [[labels[j] == labels[q] for j in row] for q, row in zip(queries, rows)]
    return neighbours, correct


def resolve_notions(dataset: str, data: Dataset, notions: Sequence[str | Notion] | None) -> list[Notion]:
    """Names registered for the dataset or Notion objects (default: all), checked against the labels table."""
    chosen = [n if isinstance(n, Notion) else get_notion(dataset, n) for n in notions] if notions \
        else notions_for(dataset)
    if not chosen:
        raise ConfigError(f"dataset {dataset!r} has no registered notions: describe one with a prompt template "
                          "and a word file (CLI: --template 'a photo of a {}' --words words.txt "
                          "--label-column label)")
    for notion in chosen:
        notion.labels(data)  # fails now, naming the column, rather than after the images are embedded
    return [notion.for_dataset(data) for notion in chosen]  # label-vocabulary notions take words from the data
