"""The authors' training loop, lean and exact: full-batch Adam, keep the best iterate, stop after ``patience``.

Each Adam-trained model hands the loop an objective with hand-written gradients (``_objectives``) whose
numbers equal autograd's, and ``ExactAdam`` (``_adam``) applies ``torch.optim.Adam``'s update with the same
arithmetic. Together they follow the authors' trajectory bit for bit, without building an autograd graph,
without the optimizer's bookkeeping and without redrawing a progress bar every step.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol

import torch

from ..._util.errors import ConfigError
from ..._util.progress import progress_bar
from ._adam import ExactAdam

PROGRESS_EVERY = 100
"""Iterations between two progress-bar updates (each update costs more than a small step)."""


class Objective(Protocol):
    """A loss over ``params`` (updated in place) with its exact gradient and a snapshot of what is kept."""

    params: list[torch.Tensor]

    def loss(self) -> float: ...

    def gradients(self) -> list[torch.Tensor]: ...

    def snapshot(self) -> Any: ...


@dataclass
class PatienceResult:
    """Best loss, the snapshot taken at it, iteration counts and the loss curve."""

    best_loss: float
    best_state: Any
    n_iter: int
    best_iter: int
    loss_curve: list[float] = field(repr=False)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block: a fit then gives the same numbers whether it runs alone or
    beside others in worker processes (multi-threaded reductions over large tensors split differently)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_with_patience(objective: Objective, lr: float = 0.01, patience: int = 100, weight_decay: float = 0.0,
                      max_iter: int | None = None, tol: float = 0.0, progress: bool = False,
                      desc: str = "fit") -> PatienceResult:
    """Run the authors' loop on ``objective``.

    Each iteration computes the loss; a strictly lower loss records a snapshot of the parameters *before* this
    iteration's update; the loop stops when ``patience`` iterations pass without an improvement (or after
    ``max_iter`` iterations, a cap the authors did not have). With ``tol = 0`` (the authors' rule) any strict
    improvement resets the patience; with ``tol > 0`` only an improvement by more than ``tol`` × |loss| does,
    so a loss that creeps down for ever still stops. The best snapshot is always the strictly lowest loss.
    """
    adam = ExactAdam(objective.params, lr=lr, weight_decay=weight_decay)
    best_loss, best_iter, best_state, it = math.inf, 0, None, 0
    anchor_loss, anchor_iter = math.inf, 0  # the last improvement that counts for patience
    curve: list[float] = []
    shown = 0
    with one_thread(), progress_bar(desc=desc, unit="it", disable=not progress) as bar:
        while True:
            it += 1
            value = objective.loss()
            curve.append(value)
            if value < best_loss:
                best_loss, best_iter, best_state = value, it, objective.snapshot()
            if anchor_iter == 0 or value < anchor_loss - tol * abs(anchor_loss):
                anchor_loss, anchor_iter = value, it
            if it - anchor_iter >= patience or (max_iter is not None and it >= max_iter):
                break
            adam.step(objective.gradients())
            if it - shown >= PROGRESS_EVERY:
                bar.set_postfix(best=f"{best_loss:.5f}", refresh=False)
                bar.update(it - shown)
                shown = it
        bar.update(it - shown)
    if best_state is None:
        raise ConfigError(f"{desc}: the loss was never finite ({curve[0]} at the first iteration): the features "
                          "must be finite numbers; check them for NaN or infinite values")
    return PatienceResult(best_loss, best_state, it, best_iter, curve)
