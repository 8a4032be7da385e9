"""Shared estimator plumbing: input validation and the fit/transform contract every model follows."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

FIT_INPUTS = ("text", "image_labels", "none")


def as_features(values: Any, name: str) -> torch.Tensor:
    """A 2-D float32 CPU tensor from a tensor/array, or a ConfigError naming ``name``."""
    tensor = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    if tensor.ndim != 2:
        raise ConfigError(f"{name} must be a 2-D (n, d) matrix, got shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise ConfigError(f"{name} is empty: give at least one row (for text features: at least one prompt)")
    tensor = tensor.detach().to("cpu", torch.float32)
    if not torch.isfinite(tensor).all():
        raise ConfigError(f"{name} contains NaN or infinite values: recompute the features")
    return tensor


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (zero rows stay zero instead of becoming NaN)."""
    return torch.nn.functional.normalize(x, dim=1)


def check_n_components(n_components: int, dim: int | None = None) -> None:
    """Validate the embedding size against the feature dimension."""
    if not isinstance(n_components, (int, np.integer)) or isinstance(n_components, bool) or n_components < 1:
        raise ConfigError(f"n_components={n_components!r} must be a positive integer (the paper uses 128)")
    if dim is not None and n_components > dim:
        raise ConfigError(f"n_components={n_components} is larger than the feature dimension {dim}: "
                          f"choose n_components <= {dim}")


def encode_labels(labels: Any) -> tuple[np.ndarray, torch.Tensor]:
    """Sorted class names and the integer code of each label."""
    classes, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    return classes, torch.as_tensor(codes, dtype=torch.long)


class Reducer:
    """Base of every model: sklearn-style, constructor stores parameters, learned state ends in ``_``.

    ``fit_input`` says what ``fit`` learns from: ``"text"`` (prompt features), ``"image_labels"``
    (the evaluation images and their labels, the Oracle) or ``"none"``.
    """

    fit_input = "text"
    display_name = "model"

    def fit(self, features: Any, labels: Any = None) -> "Reducer":
        raise NotImplementedError

    def transform(self, image_features: Any) -> torch.Tensor:
        raise NotImplementedError

    def fit_transform(self, features: Any, labels: Any = None) -> torch.Tensor:
        """Fit, then transform the same features."""
        return self.fit(features, labels).transform(features)

    def get_params(self) -> dict:
        """Constructor parameters (for provenance)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not any(k.endswith("_") and not k.startswith("_") for k in vars(self)):
            raise ConfigError(f"{type(self).__name__} is not fitted yet: call fit(...) before transform(...)")
