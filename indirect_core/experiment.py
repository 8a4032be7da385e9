"""Experiment runner: one notion × models × repetitions (seeds) on precomputed features, and their summary.

Pure data in, DataFrames out: text features, image features and labels are passed in, so the same runner
serves the CLI, the notebooks and the tests.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .errors import ConfigError, NotApplicableError
from .metrics import METRICS, evaluate
from .models import MODELS, display_name, make_model

DEFAULT_MODELS = tuple(MODELS)
RUN_COLUMNS = ("notion", "model", "seed", *METRICS, "note")


def run_notion(notion: str, text_features: torch.Tensor, image_features: torch.Tensor, labels: Sequence[Any],
               models: Iterable[str] = DEFAULT_MODELS, seeds: Iterable[int] = range(5),
               n_components: int = 128, model_options: Mapping[str, Mapping[str, Any]] | None = None,
               progress: bool = True) -> pd.DataFrame:
    """Fit and evaluate every model once per seed; one row per (model, seed) with the 7 metrics.

    A model that cannot be fitted in this setting (NotApplicableError, e.g. PCA with too few prompts) gets
    NaN metrics and the reason in ``note``, as the paper's tables show "PCA failed".
    """
    models, seeds = list(models), list(seeds)
    options = dict(model_options or {})
    unknown = [m for m in [*models, *options] if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {unknown}: use keys from {list(MODELS)}")
    if not seeds:
        raise ConfigError("seeds is empty: give at least one seed, e.g. seeds=[0]")
    labels = np.asarray(labels)
    if len(labels) != len(image_features):
        raise ConfigError(f"notion {notion!r}: {len(image_features)} image features but {len(labels)} labels")
    rows = []
    bar = tqdm(total=len(models) * len(seeds), desc=f"{notion}", unit="run", disable=not progress, leave=False)
    with bar:
        for key in models:
            for seed in seeds:
                model = make_model(key, n_components=n_components, random_state=seed, **options.get(key, {}))
                row: dict[str, Any] = {"notion": notion, "model": key, "seed": seed, "note": ""}
                try:
                    embeddings = _fit_transform(model, text_features, image_features, labels)
                    row.update(evaluate(embeddings, labels))
                except NotApplicableError as why:
                    row.update({metric: float("nan") for metric in METRICS})
                    row["note"] = str(why)
                rows.append(row)
                bar.update(1)
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def _fit_transform(model: Any, text_features: torch.Tensor, image_features: torch.Tensor,
                   labels: np.ndarray) -> torch.Tensor:
    """Feed each model what it learns from (prompts, evaluation labels, or nothing), then embed the images."""
    if model.fit_input == "text":
        model.fit(text_features)
    elif model.fit_input == "image_labels":
        model.fit(image_features, labels)
    else:
        model.fit()
    return model.transform(image_features)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and population std (ddof=0, as the paper) per (notion, model); columns (metric, 'mean'|'std')."""
    if runs.empty:
        raise ConfigError("no runs to summarise")
    order = {key: i for i, key in enumerate(MODELS)}
    grouped = runs.groupby(["notion", "model"], sort=False)[list(METRICS)]
    summary = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=0)}, axis=1)
    summary = summary.swaplevel(0, 1, axis=1)[[(m, s) for m in METRICS for s in ("mean", "std")]]
    notes = runs.groupby(["notion", "model"], sort=False)["note"].agg(lambda n: next((x for x in n if x), ""))
    summary[("note", "")] = notes
    notion_order = {n: i for i, n in enumerate(dict.fromkeys(runs["notion"]))}
    keys = sorted(summary.index, key=lambda nm: (notion_order[nm[0]], order.get(nm[1], 99)))
    return summary.loc[keys]


def model_label(key: str) -> str:
    """Display name of a model key for tables and plots."""
    return display_name(key)
