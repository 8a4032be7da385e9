"""Shared estimator plumbing: input validation, seeding and the fit/transform contract every model follows.

Output type (every model): a ``torch.Tensor`` in gives a float32 ``torch.Tensor`` out, and cached features
(``ImageFeatures``) give one too; anything else (a NumPy array, a list, a DataFrame) gives a float32 NumPy
array. Inputs are validated like scikit-learn's ``check_array`` does, with its messages where its checks look
for them, raised as ``ConfigError`` (a ``ValueError``) that also names the fix.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from ..._util.errors import ConfigError
from ..._util.validation import as_matrix, check_int, check_optional_int, is_int

FIT_INPUTS = ("text", "image_labels", "none")


class NotFittedModelError(ConfigError, NotFittedError):
    """``transform`` called before ``fit``: a ``ConfigError`` that is also scikit-learn's ``NotFittedError``."""


def as_features(values: Any, name: str, n_features: int | None = None, model: str = "the model") -> torch.Tensor:
    """A 2-D float32 CPU tensor (detached) from a tensor, array or list, or a ConfigError naming ``name``.

    ``n_features``: the width the model was fitted on (``model`` names it in the error), None to accept any.
    """
    return as_matrix(values, name, n_columns=n_features, model=model)


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (zero rows stay zero instead of becoming NaN)."""
    return torch.nn.functional.normalize(x, dim=1)


def normalized_unless_unit(x: torch.Tensor, tol: float = 1e-5) -> torch.Tensor:
    """``x`` itself when every row already has unit length (as ``Backbone.encode_texts`` returns prompt
    features), else its L2-normalised rows. The authors' LAE, AE and PCA use the unit text features as they
    are; normalising them a second time would change their last bits."""
    norms = torch.linalg.vector_norm(x, dim=1)
    return x if bool(((norms - 1).abs() <= tol).all()) else l2_normalize(x)


def check_n_components(n_components: int, dim: int | None = None) -> None:
    """Validate the embedding size against the feature dimension."""
    check_int("n_components", n_components, hint="the paper uses 128")
    if dim is not None and n_components > dim:
        raise ConfigError(f"n_components={n_components} is larger than the feature dimension {dim}: "
                          f"choose n_components <= {dim}")


def seed_of(random_state: int | None) -> int:
    """A concrete seed: ``None`` means 0, so results never depend on hidden global state."""
    if random_state is None:
        return 0
    if not is_int(random_state):
        raise ConfigError(f"random_state={random_state!r} must be an integer seed (or None for 0)")
    return int(random_state)


def check_max_iter(max_iter: int | None) -> None:
    """``max_iter`` is a positive number of optimiser iterations, or None (no cap)."""
    check_optional_int("max_iter", max_iter, hint="no cap")


class Reducer(TransformerMixin, BaseEstimator):
    """Base of every model: a scikit-learn transformer (``get_params``, ``set_params``, ``clone``, repr).

    ``fit(X, y=None)`` returns self; ``transform(X)`` gives the (n, k) embedding of image features ``X`` and
    never refits; ``fit_transform(X, y=None)`` is scikit-learn's (fit on ``X``, then transform ``X``). Every fit
    records ``n_features_in_`` (the width of the features it saw) and ``transform`` refuses another width.

    Output type: a ``torch.Tensor`` (or cached ``ImageFeatures``) in gives a float32 ``torch.Tensor`` out;
    anything else (NumPy array, list, DataFrame) gives a float32 NumPy array. Models that keep gradients
    (``keeps_grad``: InDiReCT's transform, for attribution) keep the input's device and autograd graph when the
    input tensor requires grad; otherwise the output is a detached CPU tensor.

    The constructor only stores parameters; learned state ends in ``_``. ``fit_input`` says what ``fit``
    learns from: ``"text"`` (prompt features), ``"image_labels"`` (the evaluation images and their labels,
    the Oracle) or ``"none"``. ``deterministic`` models give the same result for every ``random_state``;
    ``parallel_fit`` marks the costly Adam-trained models the experiment runner fits in worker processes.
    """

    fit_input = "text"
    display_name = "model"
    deterministic = False
    parallel_fit = False
    keeps_grad = False

    def fit(self, X: Any, y: Any = None) -> "Reducer":
        raise NotImplementedError

    def transform(self, X: Any) -> torch.Tensor | np.ndarray:
        """The (n, k) embedding of image features ``X``: a tensor for a tensor (or ``ImageFeatures``), else a
        float32 NumPy array. Cached ``ImageFeatures`` made with another backbone than the model's are refused."""
        self._check_fitted()
        features = self._features_of_own_backbone(X)
        tensor_in = isinstance(features, torch.Tensor)
        width = getattr(self, "n_features_in_", None)
        if self.keeps_grad and tensor_in and features.requires_grad:
            as_features(features.detach(), "image_features", width, type(self).__name__)  # checks only
            return self._transform(features.float())  # the graph kept: attribution backpropagates through it
        out = self._transform(as_features(features, "image_features", width, type(self).__name__))
        return out if tensor_in else out.detach().cpu().numpy().astype(np.float32, copy=False)

    def _transform(self, features: torch.Tensor) -> torch.Tensor:
        """The embedding of validated float32 features (subclasses)."""
        raise NotImplementedError

    def _fitted_on(self, features: torch.Tensor | None) -> None:
        """Record the width of the features a fit saw (none seen: no width to check in transform)."""
        if features is None:
            self.__dict__.pop("n_features_in_", None)
        else:
            self.n_features_in_ = int(features.shape[1])

    def _features_of_own_backbone(self, features: Any) -> Any:
        """The tensor of cached ``ImageFeatures``, refused when the model knows its own backbone (``backbone_``,
        set by ``fit_space`` and ``load_projection``) and it is another one; any other input as it is."""
        backbone = getattr(features, "backbone", None)
        if not isinstance(backbone, dict) or not hasattr(features, "features"):
            return features
        own = getattr(self, "backbone_", None)
        if own is not None and own.get("sha256") != backbone.get("sha256"):
            raise ConfigError(f"these image features come from backbone {backbone.get('name')} "
                              f"({str(backbone.get('sha256'))[:12]}) but the projection was fitted with "
                              f"{own.get('name')} ({str(own.get('sha256'))[:12]}): embed the images with the "
                              "projection's backbone, or fit the projection again with this one")
        return torch.as_tensor(features.features)

    def _check_fitted(self) -> None:
        if not any(k.endswith("_") and not k.startswith("_") for k in vars(self)):
            raise NotFittedModelError(f"{type(self).__name__} is not fitted yet: call fit(...) before "
                                      "transform(...)")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # every output is float32, whatever the input
        tags.target_tags.required = self.fit_input == "image_labels"  # the Oracle learns from labels
        return tags
