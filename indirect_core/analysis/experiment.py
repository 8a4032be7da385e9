"""Experiment runner: one notion × models × repetitions (seeds) on precomputed features, and their summary.

Pure data in, DataFrames out: text features, image features and labels are passed in, so the same runner
serves the CLI, the notebooks and the tests. The Adam-trained models (InDiReCT, LAE, AE, Oracle) are fitted
in worker processes when an executor is given (``parallel_fits``); each fit runs on one thread, so its numbers
are the same alone or beside others, and the table is identical to a sequential run.
"""
from __future__ import annotations

import concurrent.futures as futures
import contextlib
import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .._util.errors import ConfigError, NotApplicableError
from .._util.validation import check_int
from ..core.metrics import METRICS, evaluate
from ..core.models import MODELS, Reducer, make_model
from .._util.progress import progress_bar
from .._util.worker_warnings import call_recording_warnings, replay_warnings

DEFAULT_MODELS = tuple(MODELS)
RUN_COLUMNS = ("notion", "model", "seed", *METRICS, "fit_seconds", "evaluate_seconds", "n_iter", "note")
TIMING_COLUMNS = ("fit_seconds", "evaluate_seconds", "n_iter")


@dataclass
class Fitted:
    """One fitted model (or why it could not be fitted) and how long fitting took."""

    key: str
    seed: int
    model: Reducer | None
    seconds: float
    note: str = ""


def fit_model(key: str, seed: int, n_components: int, options: Mapping[str, Any], text_features: torch.Tensor,
              image_features: torch.Tensor | None = None, labels: Sequence[Any] | None = None) -> Fitted:
    """Fit one model on what it learns from (prompts, the evaluation images with labels, or nothing)."""
    model = make_model(key, n_components=n_components, random_state=seed, **options)
    started = time.perf_counter()
    try:
        if model.fit_input == "text":
            model.fit(text_features)
        elif model.fit_input == "image_labels":
            model.fit(image_features, labels)
        else:
            model.fit()
    except NotApplicableError as why:
        return Fitted(key, seed, None, time.perf_counter() - started, str(why))
    return Fitted(key, seed, model, time.perf_counter() - started)


def default_n_jobs() -> int:
    """The cores this process may use (its CPU affinity), the default number of fit workers."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_init() -> None:
    torch.set_num_threads(1)


@contextlib.contextmanager
def parallel_fits(n_jobs: int | str | None = "auto") -> Iterator[futures.Executor | None]:
    """A pool of ``n_jobs`` worker processes for the Adam-trained fits (``"auto"``: one per core); ``None``
    (no pool) for 1. Pass it to ``run_notion(executor=...)`` and reuse it across notions."""
    count = default_n_jobs() if n_jobs in ("auto", None) else n_jobs
    count = check_int("n_jobs", count, hint="or 'auto': one worker per core")
    if count == 1:
        yield None
        return
    pool = futures.ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_worker_init)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_notion(notion: str, text_features: torch.Tensor, image_features: torch.Tensor, labels: Sequence[Any],
               models: Iterable[str] = DEFAULT_MODELS, seeds: Iterable[int] = range(5),
               n_components: int = 128, model_options: Mapping[str, Mapping[str, Any]] | None = None,
               progress: bool = True, executor: futures.Executor | None = None,
               keep: dict[str, Reducer] | None = None,
               keep_every: dict[tuple[str, int], Reducer] | None = None) -> pd.DataFrame:
    """Fit and evaluate every model once per seed; one row per (model, seed) with the 7 metrics and timings.

    A model that cannot be fitted in this setting (NotApplicableError, e.g. PCA with too few prompts) gets
    NaN metrics and the reason in ``note``, as the paper's tables show "PCA failed". ``keep``, if given,
    receives the fitted model of the first seed per model key (so figures use exactly the evaluated space);
    ``keep_every`` receives every fitted model by (model key, seed) (e.g. for the cross-notion matrix).
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
    text_features = torch.as_tensor(text_features).detach().cpu()
    image_features = torch.as_tensor(image_features).detach().cpu()
    jobs = [(key, seed) for key in models for seed in seeds]
    pending: dict[tuple[str, int], futures.Future] = {}
    if executor is not None:
        for key, seed in jobs:
            if getattr(MODELS[key], "parallel_fit", False):
                needs_images = MODELS[key].fit_input == "image_labels"
                pending[(key, seed)] = executor.submit(  # the worker's warnings come back with the fit
                    call_recording_warnings, fit_model, key, seed, n_components, options.get(key, {}),
                    text_features, image_features if needs_images else None, labels if needs_images else None)
    rows = []
    with progress_bar(total=len(jobs), desc=f"{notion}", unit="run", disable=not progress, leave=False) as bar:
        for key, seed in jobs:
            if (key, seed) in pending:
                fitted, raised = pending.pop((key, seed)).result()
                replay_warnings(raised)  # through this process's filters (a notebook's note), as if fitted here
            else:
                fitted = fit_model(key, seed, n_components, options.get(key, {}), text_features, image_features,
                                   labels)
            rows.append(_evaluate_fitted(notion, fitted, image_features, labels))
            if keep is not None and seed == seeds[0] and fitted.model is not None:
                keep[key] = fitted.model
            if keep_every is not None and fitted.model is not None:
                keep_every[(key, seed)] = fitted.model
            bar.update(1)
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def _evaluate_fitted(notion: str, fitted: Fitted, image_features: torch.Tensor, labels: np.ndarray) -> dict:
    """One runs row: the metrics of the fitted model's embedding of the images (NaN with a note if none)."""
    row: dict[str, Any] = {"notion": notion, "model": fitted.key, "seed": fitted.seed, "note": fitted.note,
                           "fit_seconds": round(fitted.seconds, 4),
                           "n_iter": getattr(fitted.model, "n_iter_", None)}
    started = time.perf_counter()
    if fitted.model is None:
        row.update({metric: float("nan") for metric in METRICS})
    else:
        row.update(evaluate(fitted.model.transform(image_features), labels))
    row["evaluate_seconds"] = round(time.perf_counter() - started, 4)
    return row


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
