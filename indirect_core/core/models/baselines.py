"""The paper's baselines, each an estimator with InDiReCT's contract and a ``random_state``.

Defaults follow the authors' code (see docs/PROTOCOL.md); ``normalize=True`` switches on the fix for
their normalisation mismatch (unit-norm image inputs and outputs), which changes numbers.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA as SklearnPCA

from ..._util.errors import ConfigError, NotApplicableError
from ..._util.labels import encode_labels
from ._base import (Reducer, as_features, check_max_iter, check_n_components, l2_normalize, normalized_unless_unit,
                    seed_of)
from ._objectives import AutoencoderObjective, NormalizedSoftmaxObjective
from ._patience import fit_with_patience


# The patience rule: 0 is the authors' (any strict improvement resets the patience). A positive value lets only
# an improvement by more than that share of the loss reset it, so a loss that creeps down for ever still stops.
PATIENCE_TOL = 0.0


class RandomEmbedding(Reducer):
    """Lower bound: a random unit vector per image, ignoring the image entirely."""

    fit_input = "none"
    display_name = "Random"

    def __init__(self, n_components: int = 128, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: Any = None, y: Any = None) -> "RandomEmbedding":
        """Nothing to learn. ``X`` (optional) is validated and its width recorded, so ``transform`` checks it;
        ``fit()`` without features accepts any width. ``y`` is ignored. Returns self."""
        check_n_components(self.n_components)
        self._fitted_on(None if X is None else as_features(X, "features"))
        self.fitted_ = True
        return self

    def _transform(self, features: torch.Tensor) -> torch.Tensor:
        """``randn(n, k)`` from ``random_state``, L2-normalised: only the number of rows of the input is used."""
        generator = torch.Generator().manual_seed(seed_of(self.random_state))
        return l2_normalize(torch.randn(len(features), self.n_components, generator=generator))


class CLIPFeatures(Reducer):
    """The CLIP image features themselves (full dimension); raw by default, as the authors evaluated them."""

    fit_input = "none"
    display_name = "CLIP"
    deterministic = True

    def __init__(self, n_components: int | None = None, random_state: int | None = 0,
                 normalize: bool = False) -> None:
        self.n_components = n_components  # ignored: CLIP keeps all d dimensions
        self.random_state = random_state
        self.normalize = normalize

    def fit(self, X: Any = None, y: Any = None) -> "CLIPFeatures":
        """Nothing to learn. ``X`` (optional) is validated and its width recorded, so ``transform`` checks it;
        ``fit()`` without features accepts any width. ``y`` is ignored. Returns self."""
        self._fitted_on(None if X is None else as_features(X, "features"))
        self.fitted_ = True
        return self

    def _transform(self, features: torch.Tensor) -> torch.Tensor:
        """The features themselves (a copy), L2-normalised with ``normalize=True``."""
        return l2_normalize(features) if self.normalize else features.clone()


class RandomTransform(Reducer):
    """A random projection U ~ N(0, 0.1) of the normalised features, renormalised (InDiReCT without fitting)."""

    display_name = "Rand. transform"

    def __init__(self, n_components: int = 128, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> "RandomTransform":
        """Draw U for the width of the prompt features ``X`` (their values are not used); ``y`` is ignored."""
        texts = as_features(X, "text_features")
        check_n_components(self.n_components, texts.shape[1])
        generator = torch.Generator().manual_seed(seed_of(self.random_state))
        self.components_ = torch.normal(0.0, 0.1, (self.n_components, texts.shape[1]), generator=generator)
        self._fitted_on(texts)
        return self

    def _transform(self, features: torch.Tensor) -> torch.Tensor:
        return l2_normalize(l2_normalize(features) @ self.components_.T)


class PCA(Reducer):
    """scikit-learn PCA fitted on the prompt features, applied to image features.

    With fewer prompts than ``n_components`` the authors' PCA failed (NaN in their tables):
    ``too_few_prompts="fail"`` (default) raises NotApplicableError, ``"truncate"`` keeps min(prompts, k) components.
    """

    display_name = "PCA"
    deterministic = True

    def __init__(self, n_components: int = 128, random_state: int | None = 0, normalize: bool = False,
                 too_few_prompts: str = "fail") -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.normalize = normalize
        self.too_few_prompts = too_few_prompts

    def fit(self, X: Any, y: Any = None) -> "PCA":
        """Fit on the prompt features ``X`` (rows L2-normalised unless already unit); ``y`` is ignored."""
        if self.too_few_prompts not in ("fail", "truncate"):
            raise ConfigError(f"too_few_prompts={self.too_few_prompts!r}: use 'fail' or 'truncate'")
        texts = normalized_unless_unit(as_features(X, "text_features"))
        check_n_components(self.n_components, texts.shape[1])
        k = self.n_components
        if len(texts) < k:
            if self.too_few_prompts == "fail":
                raise NotApplicableError(f"PCA with n_components={k} needs at least {k} prompts, got {len(texts)} "
                                         "(the paper's 'PCA failed'); pass too_few_prompts='truncate' to keep "
                                         f"{len(texts)} components instead")
            k = len(texts)
        self.pca_ = SklearnPCA(n_components=k, svd_solver="full", random_state=seed_of(self.random_state))
        self.pca_.fit(texts.double().numpy())
        self.components_ = torch.as_tensor(self.pca_.components_, dtype=torch.float32)
        self._fitted_on(texts)
        return self

    def _transform(self, features: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            features = l2_normalize(features)
        reduced = torch.as_tensor(self.pca_.transform(features.double().numpy()), dtype=torch.float32)
        return l2_normalize(reduced) if self.normalize else reduced


class _AutoencoderBase(Reducer):
    """Shared fit/transform of the (linear) autoencoders: SSE on unit text features, the authors' Adam loop."""

    weight_decay = 0.0
    parallel_fit = True

    def __init__(self, n_components: int = 128, random_state: int | None = 0, normalize: bool = False,
                 lr: float = 0.01, patience: int = 100, tol: float = PATIENCE_TOL,
                 max_iter: int | None = None, progress: bool = False) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.normalize = normalize
        self.lr = lr
        self.patience = patience
        self.tol = tol
        self.max_iter = max_iter
        self.progress = progress

    def _architecture(self, dim: int) -> tuple[list[tuple[int, int, float | None]], int]:
        """Linear layers in creation order as (in, out, LeakyReLU slope after it or None), and how many of
        them form the encoder."""
        raise NotImplementedError

    def fit(self, X: Any, y: Any = None) -> "_AutoencoderBase":
        """Train on the prompt features ``X`` (rows L2-normalised unless already unit); ``y`` is ignored."""
        texts = normalized_unless_unit(as_features(X, "text_features"))
        check_n_components(self.n_components, texts.shape[1])
        check_max_iter(self.max_iter)
        spec, n_encoder = self._architecture(texts.shape[1])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_of(self.random_state))
            linears = [torch.nn.Linear(n_in, n_out) for n_in, n_out, _ in spec]  # PyTorch's default init
        layers = [(linear.weight.detach().clone(), linear.bias.detach().clone()) for linear in linears]
        objective = AutoencoderObjective(texts, layers, [slope for _, _, slope in spec], n_encoder)
        result = fit_with_patience(objective, lr=self.lr, patience=self.patience, weight_decay=self.weight_decay,
                                   max_iter=self.max_iter, tol=self.tol, progress=self.progress,
                                   desc=self.display_name)
        encoder = []
        with torch.no_grad():
            for linear, (_, _, slope), weight, bias in zip(linears, spec, result.best_state[0::2],
                                                           result.best_state[1::2]):
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
                encoder += [linear] + ([torch.nn.LeakyReLU(slope)] if slope is not None else [])
        self.encoder_ = torch.nn.Sequential(*encoder).eval().requires_grad_(False)
        self.loss_, self.n_iter_, self.loss_curve_ = result.best_loss, result.n_iter, result.loss_curve
        self.best_iter_ = result.best_iter
        self._fitted_on(texts)
        return self

    def _transform(self, features: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            features = l2_normalize(features)
        with torch.no_grad():
            reduced = self.encoder_(features)
        return l2_normalize(reduced) if self.normalize else reduced


class LinearAutoencoder(_AutoencoderBase):
    """Linear encoder/decoder with bias, SSE loss on the prompt features (the paper's LAE)."""

    display_name = "LAE"

    def _architecture(self, dim: int) -> tuple[list[tuple[int, int, float | None]], int]:
        return [(dim, self.n_components, None), (self.n_components, dim, None)], 1


class Autoencoder(_AutoencoderBase):
    """One hidden layer of 512 with LeakyReLU each side, weight decay 1e-2 (the paper's AE)."""

    display_name = "AE"
    weight_decay = 1e-2
    hidden = 512
    negative_slope = 0.01  # torch.nn.LeakyReLU's default, as the authors used

    def _architecture(self, dim: int) -> tuple[list[tuple[int, int, float | None]], int]:
        k, h, slope = self.n_components, self.hidden, self.negative_slope
        return [(dim, h, slope), (h, k, None), (k, h, slope), (h, dim, None)], 2


class Oracle(Reducer):
    """Supervised upper bound: NormalizedSoftmax trained on the evaluation images and their labels.

    ``scale`` multiplies the cosine logits; the authors used none (1.0), so logits lie in [−1, 1].
    """

    fit_input = "image_labels"
    display_name = "Oracle"
    parallel_fit = True

    def __init__(self, n_components: int = 128, random_state: int | None = 0, scale: float = 1.0,
                 lr: float = 0.01, patience: int = 100, tol: float = PATIENCE_TOL,
                 max_iter: int | None = None, progress: bool = False) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.scale = scale
        self.lr = lr
        self.patience = patience
        self.tol = tol
        self.max_iter = max_iter
        self.progress = progress

    def fit(self, X: Any, y: Any = None) -> "Oracle":
        """Train on the image features ``X`` and their labels ``y`` (required; any type, one per row)."""
        if y is None:
            raise ConfigError("Oracle.fit needs the labels of the images (Oracle requires y to be passed, but the "
                              "target y is None): call fit(image_features, labels)")
        features = l2_normalize(as_features(X, "image_features"))
        labels = np.asarray(y)
        if labels.ndim != 1:
            raise ConfigError(f"Oracle.fit: y should be a 1d array of labels, one per image, got shape {labels.shape}")
        if len(labels) != len(features):
            raise ConfigError(f"Oracle.fit got {len(features)} images but {len(labels)} labels")
        check_n_components(self.n_components, features.shape[1])
        check_max_iter(self.max_iter)
        classes, codes = encode_labels(labels)
        codes = torch.as_tensor(codes)
        generator = torch.Generator().manual_seed(seed_of(self.random_state))
        weights = torch.normal(0.0, 0.1, (self.n_components, features.shape[1]), generator=generator)
        proxies = torch.normal(0.0, 0.1, (len(classes), self.n_components), generator=generator)
        objective = NormalizedSoftmaxObjective(features, codes, weights, proxies, scale=float(self.scale))
        result = fit_with_patience(objective, lr=self.lr, patience=self.patience, max_iter=self.max_iter,
                                   tol=self.tol, progress=self.progress, desc="Oracle")
        self.components_ = result.best_state
        self.classes_ = classes
        self.loss_, self.n_iter_, self.loss_curve_ = result.best_loss, result.n_iter, result.loss_curve
        self.best_iter_ = result.best_iter
        self._fitted_on(features)
        return self

    def _transform(self, features: torch.Tensor) -> torch.Tensor:
        return l2_normalize(l2_normalize(features) @ self.components_.T)
