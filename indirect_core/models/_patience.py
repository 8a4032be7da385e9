"""The authors' training loop: full-batch Adam, keep the best iterate, stop after ``patience`` steps without gain."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm


@dataclass
class PatienceResult:
    """Best loss, the snapshot taken at it, iteration counts and the loss curve."""

    best_loss: float
    best_state: Any
    n_iter: int
    best_iter: int
    loss_curve: list[float] = field(repr=False)


def fit_with_patience(parameters: Sequence[torch.Tensor], loss_fn: Callable[[], torch.Tensor],
                      snapshot: Callable[[], Any], lr: float = 0.01, patience: int = 100,
                      weight_decay: float = 0.0, max_iter: int | None = None, tol: float = 0.0,
                      progress: bool = False, desc: str = "fit") -> PatienceResult:
    """Run the loop as the paper's code does.

    Each iteration computes the loss; a strictly lower loss records a snapshot of the parameters *before*
    this iteration's update; the loop stops when ``patience`` iterations pass without an improvement (or at
    ``max_iter``, a safety cap the authors did not have). With ``tol = 0`` (the authors' rule) any strict
    improvement resets the patience; with ``tol > 0`` only an improvement by more than ``tol`` × |loss|
    does, so a loss that creeps down forever (e.g. the Oracle's bounded logits) still stops.
    """
    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    best_loss, best_iter, best_state, it = float("inf"), 0, None, 0
    anchor_loss, anchor_iter = float("inf"), 0  # the last improvement that counts for patience
    curve: list[float] = []
    with tqdm(desc=desc, unit="it", disable=not progress, leave=False) as bar:
        while True:
            it += 1
            loss = loss_fn()
            value = float(loss.detach())
            curve.append(value)
            if value < best_loss:
                best_loss, best_iter, best_state = value, it, snapshot()
            if value < anchor_loss - tol * abs(anchor_loss) or anchor_iter == 0:
                anchor_loss, anchor_iter = value, it
            if it - anchor_iter >= patience or (max_iter is not None and it >= max_iter):
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update(1)
            if it % 50 == 0:
                bar.set_postfix(best=f"{best_loss:.5f}")
    return PatienceResult(best_loss, best_state, it, best_iter, curve)
