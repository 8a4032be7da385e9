"""``torch.optim.Adam``'s update written out bit for bit, fused into two passes over memory when numba is there.

``torch.optim.Adam`` (single-tensor path, L2 weight decay) runs eight elementwise operations per parameter,
each a full pass over memory; on the AE baseline (655k parameters, 17 prompts) that is half of a step. The
fused kernels compute the same float32 operations in the same order, with a fused multiply-add exactly where
torch's CPU kernels use one (``add(alpha=)``, ``lerp_`` and ``addcmul_``: found by comparing candidate
formulas with torch on millions of values), and keep torch's own ``sqrt`` (it differs from the correctly
rounded square root by one unit in the last place on ~16 % of values here, so it is not reproduced). On first use in a process
the kernels are checked against torch's operations on probe values; any difference (another CPU, another
torch) falls back to torch's operations with a warning, so the numbers never change, only the speed.
"""
from __future__ import annotations

import functools
import warnings
from typing import Sequence

import numpy as np
import torch


def _torch_ops(params, grads, exp_avgs, exp_avg_sqs, denominators, decayed, step: int, lr: float,
               betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """The reference: torch.optim.Adam's single-tensor update with the same operations in the same order.

    ``g + wd·p``, ``m.lerp_(g, 1 − β1)``, ``v.mul_(β2).addcmul_(g, g, 1 − β2)``,
    ``denom = √v / √(1 − β2ᵗ) + eps``, ``p.addcdiv_(m, denom, −lr / (1 − β1ᵗ))``.
    """
    beta1, beta2 = betas
    grads = list(grads)
    if weight_decay != 0:
        for grad, param, out in zip(grads, params, decayed):
            torch.add(grad, param, alpha=weight_decay, out=out)
        grads = decayed
    # torch.optim.Adam keeps the step count as a float32 tensor and reads it back as a Python float.
    step_value = float(step)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    bias_correction1 = 1 - beta1 ** step_value
    bias_correction2 = 1 - beta2 ** step_value
    for exp_avg_sq, out in zip(exp_avg_sqs, denominators):
        torch.sqrt(exp_avg_sq, out=out)
    torch._foreach_div_(denominators, bias_correction2 ** 0.5)
    torch._foreach_add_(denominators, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denominators, -(lr / bias_correction1))


@functools.lru_cache(maxsize=1)
def _kernels():
    """(moments, update_in_place) from ``_adam_kernels``, or None without numba (or where numba cannot
    set up its cache: it raises RuntimeError when no cache folder is writable)."""
    try:
        from . import _adam_kernels
    except (ImportError, RuntimeError, OSError):
        return None
    return _adam_kernels.moments, _adam_kernels.update_in_place


def _fused_step(params, grads, exp_avgs, exp_avg_sqs, roots, root_tensors, exp_avg_sq_tensors, step: int,
                lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """One update in place through the kernels on flat float32 arrays; torch computes the square roots in
    between."""
    moments, update_in_place = _kernels()
    beta1, beta2 = betas
    f32 = np.float32
    step_value = float(step)
    bias_correction2_sqrt = f32((1 - beta2 ** step_value) ** 0.5)
    step_size = f32(-(lr / (1 - beta1 ** step_value)))
    decay, lerp_weight, b2, one_minus_b2 = f32(weight_decay), f32(1 - beta1), f32(beta2), f32(1 - beta2)
    eps32 = f32(eps)
    for i, param in enumerate(params):
        moments(param, grads[i], exp_avgs[i], exp_avg_sqs[i], decay, lerp_weight, b2, one_minus_b2, weight_decay != 0)
        torch.sqrt(exp_avg_sq_tensors[i], out=root_tensors[i])
        update_in_place(param, exp_avgs[i], roots[i], bias_correction2_sqrt, eps32, step_size)


@functools.lru_cache(maxsize=None)
def fused_available(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> bool:
    """Whether the fused kernels give torch's numbers bit for bit here, for these hyperparameters.

    Probe: 3 parameters with magnitudes from 1e-8 to 1e3 (and zeros), 5 steps of random gradients through
    both paths; any differing bit means no (a warning says so once).
    """
    if _kernels() is None:
        return False
    generator = torch.Generator().manual_seed(0)
    shapes = [(37, 29), (1001,), (5,)]

    def spread(shape):
        values = torch.randn(shape, generator=generator) * 10 ** (torch.rand(shape, generator=generator) * 11 - 8)
        values.view(-1)[::17] = 0.0
        return values

    start = [spread(shape) for shape in shapes]
    reference = ExactAdam([p.clone() for p in start], lr, betas, eps, weight_decay, fused=False)
    fused = ExactAdam([p.clone() for p in start], lr, betas, eps, weight_decay, fused=True)
    for _ in range(5):
        grads = [spread(shape) for shape in shapes]
        reference.step(grads)
        fused.step(grads)
    same = all(torch.equal(a, b) for a, b in zip(reference.params, fused.params)) and all(
        torch.equal(a, b) for a, b in zip(reference.exp_avg_sqs + reference.exp_avgs,
                                          fused.exp_avg_sqs + fused.exp_avgs))
    if not same:
        warnings.warn("the fused Adam kernels do not reproduce torch's arithmetic on this machine: the "
                      "Adam-trained models use torch's operations instead (same numbers, slower)", RuntimeWarning,
                      stacklevel=2)
    return same


class ExactAdam:
    """``torch.optim.Adam`` (single-tensor path, L2 weight decay) with the same numbers, bit for bit (tested).

    ``fused=None`` uses the numba kernels where ``fused_available`` says they reproduce torch here, else
    torch's operations.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr: float = 0.01, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, fused: bool | None = None) -> None:
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        # Scratch space for the decayed gradients and the denominators: no new tensors per step.
        self._decayed = [torch.empty_like(p) for p in self.params] if weight_decay != 0 else []
        self._denominators = [torch.empty_like(p) for p in self.params]
        self.steps = 0
        usable = all(p.dtype == torch.float32 and p.device.type == "cpu" and p.is_contiguous() for p in self.params)
        if fused is None:
            fused = usable and fused_available(lr, self.betas, eps, weight_decay)
        elif fused and not (usable and _kernels() is not None):
            raise RuntimeError("fused Adam needs numba and contiguous float32 CPU parameters")
        self.fused = bool(fused)
        if self.fused:  # flat numpy views (no copies) of the tensors the kernels update in place
            self._arrays = [[t.view(-1).numpy() for t in tensors]
                            for tensors in (self.params, self.exp_avgs, self.exp_avg_sqs, self._denominators)]

    def step(self, grads: Sequence[torch.Tensor]) -> None:
        """One update of every parameter in place from its gradient."""
        self.steps += 1
        if not self.fused:
            _torch_ops(self.params, grads, self.exp_avgs, self.exp_avg_sqs, self._denominators, self._decayed,
                       self.steps, self.lr, self.betas, self.eps, self.weight_decay)
            return
        params, exp_avgs, exp_avg_sqs, roots = self._arrays
        grad_arrays = [(g if g.is_contiguous() else g.contiguous()).view(-1).numpy() for g in grads]
        _fused_step(params, grad_arrays, exp_avgs, exp_avg_sqs, roots, self._denominators, self.exp_avg_sqs,
                    self.steps, self.lr, self.betas, self.eps, self.weight_decay)
