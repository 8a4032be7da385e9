"""Shared estimator plumbing: input validation, seeding and the fit/transform contract every model follows."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

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


def unit_rows(x: torch.Tensor, tol: float = 1e-5) -> torch.Tensor:
    """``x`` itself when every row already has unit length (as ``Backbone.encode_texts`` returns prompt
    features), else its L2-normalised rows. The authors' LAE, AE and PCA use the unit text features as they
    are; normalising them a second time would change their last bits."""
    norms = torch.linalg.vector_norm(x, dim=1)
    return x if bool(((norms - 1).abs() <= tol).all()) else l2_normalize(x)


def check_n_components(n_components: int, dim: int | None = None) -> None:
    """Validate the embedding size against the feature dimension."""
    if not isinstance(n_components, (int, np.integer)) or isinstance(n_components, bool) or n_components < 1:
        raise ConfigError(f"n_components={n_components!r} must be a positive integer (the paper uses 128)")
    if dim is not None and n_components > dim:
        raise ConfigError(f"n_components={n_components} is larger than the feature dimension {dim}: "
                          f"choose n_components <= {dim}")


def seed_of(random_state: int | None) -> int:
    """A concrete seed: ``None`` means 0, so results never depend on hidden global state."""
    if random_state is None:
        return 0
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise ConfigError(f"random_state={random_state!r} must be an integer seed (or None for 0)")
    return int(random_state)


def check_max_iter(max_iter: int | None) -> None:
    """``max_iter`` is a positive number of optimiser iterations, or None (no cap)."""
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer))
                                 or max_iter < 1):
        raise ConfigError(f"max_iter={max_iter!r} must be a positive integer or None (no cap)")


class Reducer(TransformerMixin, BaseEstimator):
    """Base of every model: a scikit-learn estimator (``get_params``, ``set_params``, ``clone``, repr).

    The constructor only stores parameters; learned state ends in ``_``. ``fit_input`` says what ``fit``
    learns from: ``"text"`` (prompt features), ``"image_labels"`` (the evaluation images and their labels,
    the Oracle) or ``"none"``. ``deterministic`` models give the same result for every ``random_state``;
    ``parallel_fit`` marks the costly Adam-trained models the experiment runner fits in worker processes.
    """

    fit_input = "text"
    display_name = "model"
    deterministic = False
    parallel_fit = False

    def fit(self, features: Any, labels: Any = None) -> "Reducer":
        raise NotImplementedError

    def transform(self, image_features: Any) -> torch.Tensor:
        raise NotImplementedError

    def fit_transform(self, features: Any, labels: Any = None) -> torch.Tensor:
        """Fit, then transform the same features."""
        return self.fit(features, labels).transform(features)

    def _check_fitted(self) -> None:
        if not any(k.endswith("_") and not k.startswith("_") for k in vars(self)):
            raise ConfigError(f"{type(self).__name__} is not fitted yet: call fit(...) before transform(...)")
