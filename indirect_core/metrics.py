"""The paper's seven retrieval metrics, computed by pytorch-metric-learning's AccuracyCalculator.

Setting as in the paper: the evaluation set is both query and reference (self-matches removed),
k = all references, Euclidean kNN on the embeddings as given, k-means with one cluster per label.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

from .errors import ConfigError
from .labels import encode_labels

METRICS = ("AMI", "NMI", "mean_average_precision", "mean_average_precision_at_r", "mean_reciprocal_rank",
           "precision_at_1", "r_precision")
SHORT_NAMES = {"AMI": "AMI", "NMI": "NMI", "mean_average_precision": "MAP",
               "mean_average_precision_at_r": "MAP@R", "mean_reciprocal_rank": "MRR",
               "precision_at_1": "Prec@1", "r_precision": "R-Prec"}


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
    result = calculator.get_accuracy(features, codes)
    return {name: float(result[name]) for name in METRICS if name in result}
