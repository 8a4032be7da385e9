"""The paper's seven retrieval metrics, computed by pytorch-metric-learning's AccuracyCalculator.

Setting as in the paper: the evaluation set is both query and reference (self-matches removed),
k = all references, Euclidean kNN on the embeddings as given, k-means with one cluster per label.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any, Iterator

import numpy as np
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

from .._util.errors import ConfigError
from .._util.labels import encode_labels

METRICS = ("AMI", "NMI", "mean_average_precision", "mean_average_precision_at_r", "mean_reciprocal_rank",
           "precision_at_1", "r_precision")
SHORT_NAMES = {"AMI": "AMI", "NMI": "NMI", "mean_average_precision": "MAP",
               "mean_average_precision_at_r": "MAP@R", "mean_reciprocal_rank": "MRR",
               "precision_at_1": "Prec@1", "r_precision": "R-Prec"}


FAISS_MIN_POINTS_PER_CENTROID = 39


@contextlib.contextmanager
def _quiet_c_stderr() -> Iterator[None]:
    """Send what C code writes to file descriptor 2 to /dev/null inside the block."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2: nothing to quiet
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def label_codes(labels: Any) -> np.ndarray:
    """Integer codes for any label values (strings included), in sorted-class order."""
    return encode_labels(labels)[1]


def evaluate(embeddings: Any, labels: Any, include: tuple[str, ...] = ()) -> dict[str, float]:
    """The pytorch-metric-learning metrics (all 7 by default) for embeddings with one label per row."""
    features = torch.as_tensor(np.asarray(embeddings) if not isinstance(embeddings, torch.Tensor) else embeddings)
    features = features.detach().to("cpu", torch.float32)
    if features.ndim != 2:
        raise ConfigError(f"embeddings must be a 2-D (n, k) matrix, got shape {tuple(features.shape)}")
    labels = np.asarray(labels)
    if len(labels) != len(features):
        raise ConfigError(f"{len(features)} embeddings but {len(labels)} labels: give one label per row")
    if len(features) < 2:
        raise ConfigError("evaluate needs at least 2 embeddings")
    if not torch.isfinite(features).all():
        raise ConfigError("embeddings contain NaN or infinite values: check the model that produced them")
    unknown = set(include) - set(METRICS)
    if unknown:
        raise ConfigError(f"unknown metric(s) {sorted(unknown)}: choose from {METRICS}")
    calculator = AccuracyCalculator(include=tuple(include), device=torch.device("cpu"))
    codes = torch.as_tensor(label_codes(labels))
    n_classes = len(np.unique(codes.numpy()))
    if (not include or {"AMI", "NMI"} & set(include)) and len(features) < FAISS_MIN_POINTS_PER_CENTROID * n_classes:
        warnings.warn("AMI/NMI: k-means ran with fewer than 39 points per class (faiss's minimum for a stable "
                      "clustering); the clustering metrics are noisy on a set this small", stacklevel=2)
    with _quiet_c_stderr():  # faiss prints the same warning for every call, straight to the C stream
        result = calculator.get_accuracy(features, codes)
    return {name: float(result[name]) for name in METRICS if name in result}
