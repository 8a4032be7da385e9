"""The cross-notion matrix: the space fitted for notion A evaluated on the labels of notion B (MAP@R).

A notion's space should group images by its own notion, not by the others: its diagonal cell should be the
largest of its column (the best space for notion B's labels is B's own) and of its row. The CLIP features'
MAP@R on each notion's labels is the reference row every space is compared with.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .._util.errors import ConfigError
from ..core.metrics import evaluate
from ..core.models import INDIRECT_KEYS, display_name
from ..data.datasets import Dataset
from .study import StudyResult

METRIC = "mean_average_precision_at_r"
"""The matrix's metric: MAP@R, the paper's main one."""
CLIP_ROW = "CLIP"
"""The reference row: the raw CLIP features on each notion's labels."""


def cross_notion_matrix(result: StudyResult, data: Dataset, features: torch.Tensor, model: str | None = None,
                        metric: str = METRIC) -> pd.DataFrame:
    """Mean (over the evaluated seeds) of ``metric`` for every (space of notion A, labels of notion B): rows
    are the spaces ("the space of A"), columns the label sets, plus a ``CLIP`` row (the raw features). The
    std over seeds is in ``.attrs["std"]``; ``.attrs["model"]`` names the solver."""
    model = model or next((m for m in INDIRECT_KEYS if m in result.settings.get("models", [])), None)
    if model is None or not any(fit[0] == model for fits in result.indirect_fits.values() for fit in fits):
        raise ConfigError(f"the cross-notion matrix needs the fitted spaces of an InDiReCT model "
                          f"({list(INDIRECT_KEYS)})"
                          f" among the evaluated models {result.settings.get('models')}")
    notions = list(result.indirect_fits)
    if len(notions) < 2:
        raise ConfigError(f"the cross-notion matrix needs at least two notions, got {notions}")
    labels = {name: result.notions[name].labels(data) for name in notions}
    means, stds, seeds = {}, {}, set()
    for space_notion in notions:
        fits = {seed: fitted for (key, seed), fitted in sorted(result.indirect_fits[space_notion].items(),
                                                                key=lambda item: item[0][1]) if key == model}
        seeds |= set(fits)
        embeddings = {seed: fitted.transform(features) for seed, fitted in fits.items()}
        values = {label_notion: [evaluate(embedded, labels[label_notion], include=(metric,))[metric]
                                 for embedded in embeddings.values()] for label_notion in notions}
        means[space_notion] = {name: float(np.mean(v)) for name, v in values.items()}
        stds[space_notion] = {name: float(np.std(v)) for name, v in values.items()}
    clip = {name: evaluate(features, labels[name], include=(metric,))[metric] for name in notions}
    matrix = pd.DataFrame.from_dict({**means, CLIP_ROW: clip}, orient="index")[notions]
    matrix.index.name, matrix.columns.name = "space fitted for", "labels of"
    matrix.attrs.update(std=pd.DataFrame.from_dict(stds, orient="index")[notions], model=model,
                        model_name=display_name(model), metric=metric, seeds=sorted(seeds))
    return matrix


def specific_notions(matrix: pd.DataFrame) -> dict[str, bool]:
    """Per notion: whether its own space is the best of the spaces on its labels (the diagonal cell is the
    largest of its column among the notion spaces; the CLIP row is left out)."""
    spaces = matrix.drop(index=CLIP_ROW, errors="ignore")
    return {notion: bool(spaces[notion].idxmax() == notion and
                         (spaces[notion] == spaces[notion].max()).sum() == 1) for notion in spaces.columns}


def beats_clip(matrix: pd.DataFrame) -> dict[str, bool]:
    """Per notion: whether its own space beats the raw CLIP features on its labels."""
    return {notion: bool(matrix.loc[notion, notion] > matrix.loc[CLIP_ROW, notion]) for notion in matrix.columns}


def describe(matrix: pd.DataFrame, notions: Sequence[str] | None = None) -> str:
    """One sentence per notion saying what the matrix shows, as measured (for the notebook and the index)."""
    specific, better = specific_notions(matrix), beats_clip(matrix)
    lines = []
    for notion in notions or list(matrix.columns):
        own, clip = matrix.loc[notion, notion], matrix.loc[CLIP_ROW, notion]
        lines.append(f"{notion}: its own space {'is' if specific[notion] else 'is not'} the best space on its "
                     f"labels (MAP@R {own:.3f}); it {'beats' if better[notion] else 'does not beat'} the CLIP "
                     f"features ({clip:.3f}).")
    return " ".join(lines)
