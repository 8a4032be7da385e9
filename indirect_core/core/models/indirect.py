"""InDiReCT: a projection fitted on prompt features only, transferred to image features.

Objective (Kobs et al., WACV 2023): with unit text features X and projection U (k×d),
V = norm(X Uᵀ), X̂ = norm(V U), minimise the mean angle between each x and its reconstruction x̂.
Two estimators minimise it: ``InDiReCT`` is the authors' procedure (random start, full-batch Adam,
patience rule); ``InDiReCTLBFGS`` is ours (principal start, L-BFGS), reported under its own name.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ._base import Reducer, as_features, check_max_iter, check_n_components, l2_normalize, seed_of
from ._objectives import IndirectObjective
from ._patience import fit_with_patience, one_thread

ACOS_EPS = 1e-7
# The principal start is already within a fraction of a percent of the optimum; a few dozen
# L-BFGS iterations polish it (measured in benchmarks/bench_indirect_fit.py).
LBFGS_MAX_ITER = 50


def acos_safe(x: torch.Tensor, eps: float = ACOS_EPS) -> torch.Tensor:
    """arccos with a linear extension beyond ±(1 − eps), as the authors' code, so the gradient stays finite.

    Beyond the edge the value is ``acos(sign·(1 − eps)) − slope·sign·(|x| − 1 + eps)`` with the edge angle
    computed in ``x``'s dtype (as their code does) and ``slope = arccos(1 − eps) / eps`` in float64.
    """
    slope = math.acos(1 - eps) / eps
    inside = x.abs() <= 1 - eps
    sign = torch.sign(x)
    edge = torch.acos(sign * (1 - eps))
    extension = edge - slope * sign * (x.abs() - 1 + eps)
    return torch.where(inside, torch.acos(x.clamp(-1 + eps, 1 - eps)), extension)


def indirect_loss(components: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """The paper's objective: mean angle between unit text features and their reconstructions."""
    projected = l2_normalize(text_features @ components.T)
    reconstructed = l2_normalize(projected @ components)
    return acos_safe((text_features * reconstructed).sum(dim=1)).mean()


class _Projection(Reducer):
    """What both InDiReCT estimators share: the fitted U and the transform into the notion space."""

    display_name = "InDiReCT"
    keeps_grad = True

    def _transform(self, features: torch.Tensor) -> torch.Tensor:
        """Normalise, project with U, renormalise: (n, k) unit rows. Differentiable (for attribution)."""
        components = self.components_.to(features.device)
        return l2_normalize(l2_normalize(features) @ components.T)

    def explained_variance_ratio(self, text_features: Any) -> np.ndarray:
        """Share of the (uncentred) text-feature energy along each principal direction, for diagnostics."""
        texts = l2_normalize(as_features(text_features, "text_features")).double()
        energy = torch.linalg.svdvals(texts) ** 2
        return (energy / energy.sum()).numpy()

    def _finish(self, texts: torch.Tensor, components: torch.Tensor, curve: list[float], n_iter: int) -> None:
        self.components_ = components.to(torch.float32).contiguous()
        with torch.no_grad():
            self.loss_ = float(indirect_loss(self.components_, texts))
        self.loss_curve_ = curve
        self.n_iter_ = n_iter
        self._fitted_on(texts)

    def _prepare(self, X: Any) -> torch.Tensor:
        texts = l2_normalize(as_features(X, "text_features"))
        check_n_components(self.n_components, texts.shape[1])
        check_max_iter(self.max_iter)
        return texts


class InDiReCT(_Projection):
    """The authors' procedure (their ``DimRedRecon``): the paper's method, reproduced exactly.

    U ~ N(0, 0.1) from ``random_state``; full-batch Adam (``lr``); each iteration evaluates the loss, keeps a
    copy of U (before that iteration's update) when the loss strictly improves, and stops ``patience``
    iterations after the best one. ``max_iter`` caps the number of iterations (None: no cap, as the authors).
    """

    display_name = "InDiReCT"
    parallel_fit = True

    def __init__(self, n_components: int = 128, random_state: int | None = 0, lr: float = 0.01,
                 patience: int = 100, max_iter: int | None = None, progress: bool = False) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.lr = lr
        self.patience = patience
        self.max_iter = max_iter
        self.progress = progress

    def fit(self, X: Any, y: Any = None) -> "InDiReCT":
        """Fit the projection U on prompt features ``X`` (n_prompts, d); rows are L2-normalised first, ``y`` is
        ignored. Returns self."""
        texts = self._prepare(X)
        generator = torch.Generator().manual_seed(seed_of(self.random_state))
        weights = torch.normal(0.0, 0.1, (self.n_components, texts.shape[1]), generator=generator)
        result = fit_with_patience(IndirectObjective(texts, weights, eps=ACOS_EPS), lr=self.lr,
                                   patience=self.patience, max_iter=self.max_iter, progress=self.progress,
                                   desc="InDiReCT")
        self._finish(texts, result.best_state, result.loss_curve, result.n_iter)
        self.best_iter_ = result.best_iter
        return self


class InDiReCTLBFGS(_Projection):
    """Our solver for the same objective: principal-direction start, then L-BFGS (strong-Wolfe line search).

    Deterministic (``random_state`` is accepted for a uniform interface and does not change the result).
    With fewer prompts than ``n_components`` the rows beyond the text rank stay zero, so images are
    projected onto the span of the prompts only: a different space than the authors' random start gives.
    ``max_iter`` caps the number of L-BFGS iterations (None: until its tolerances stop it).
    """

    display_name = "InDiReCT (L-BFGS)"
    deterministic = True

    def __init__(self, n_components: int = 128, random_state: int | None = 0,
                 max_iter: int | None = LBFGS_MAX_ITER, progress: bool = False) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.max_iter = max_iter
        self.progress = progress

    def fit(self, X: Any, y: Any = None) -> "InDiReCTLBFGS":
        """Fit the projection U on prompt features ``X`` (n_prompts, d); rows are L2-normalised first, ``y`` is
        ignored. Returns self."""
        texts = self._prepare(X)
        seed_of(self.random_state)  # validated even though unused
        start = _principal_start(texts.double(), self.n_components).float()
        weights = start.clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS([weights], lr=1.0, max_iter=self.max_iter or 100_000,
                                      history_size=20, tolerance_grad=1e-7, tolerance_change=1e-7,
                                      line_search_fn="strong_wolfe")
        curve: list[float] = []

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = indirect_loss(weights, texts)
            loss.backward()
            curve.append(float(loss.detach()))
            return loss

        with one_thread():  # the same iterations whatever thread count the caller runs with
            optimizer.step(closure)
        n_iter = int(optimizer.state[optimizer.param_groups[0]["params"][0]].get("n_iter", 0))
        best = weights.detach()
        # Never return something worse than the start (L-BFGS is monotone with Wolfe, this is a guard).
        if float(indirect_loss(start, texts)) < float(indirect_loss(best, texts)):
            best = start
        self._finish(texts, best, curve, n_iter)
        return self


def _principal_start(x: torch.Tensor, n_components: int) -> torch.Tensor:
    """Top right-singular vectors of the (uncentred) text features; rows beyond the text rank are zero."""
    _, singular, vh = torch.linalg.svd(x, full_matrices=False)
    rows = torch.zeros(n_components, x.shape[1], dtype=x.dtype)
    rank = int((singular > singular[0] * 1e-6).sum()) if len(singular) else 0
    take = min(rank, n_components)
    rows[:take] = vh[:take]
    # Fix the sign of each direction so the start does not depend on LAPACK's sign convention.
    signs = torch.sign(rows[:take].sum(dim=1, keepdim=True))
    signs[signs == 0] = 1
    rows[:take] *= signs
    return rows
