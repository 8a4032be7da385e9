"""The four Adam-trained objectives with hand-written gradients that equal autograd's bit for bit.

Each gradient is written with the operations autograd's derivative formulas use, in the same order and on
the same memory layouts (e.g. the gradient of ``x @ W.t()`` with respect to ``W`` is ``g.t().mm(x)``), so the
numbers are identical to ``loss.backward()`` while skipping the graph. ``tests/test_objectives.py`` checks
each one against autograd over hundreds of Adam steps.

Shared derivatives:
- row normalisation ``y = x / ‖x‖``: ``dx = g / ‖x‖ + (−(g · (y / ‖x‖)).sum(1)) · y``;
- ``y = x @ W.t() (+ b)``: ``dW = g.t().mm(x)``, ``db = g.sum(0)``, ``dx = g.mm(W)``;
- ``y = v @ W``: ``dv = g.mm(W.t())``, ``dW = v.t().mm(g)``.
"""
from __future__ import annotations

import math

import torch


NORM_EPS = 1e-12
"""F.normalize's floor on a row norm: a zero row stays zero instead of becoming NaN (0 / 0)."""


def _normalize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit rows and the (floored) row norms: ``x / max(‖x‖, eps)``, as the authors' ``F.normalize``.

    Rows with a norm above the floor give exactly ``x / ‖x‖``; a zero row stays zero.
    """
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(NORM_EPS)
    return x / norms, norms


def _normalize_rows_backward(grad: torch.Tensor, unit: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """Gradient through ``unit = x / max(‖x‖, eps)``: the division's backward plus the norm's, which autograd
    passes only where the norm is above the floor."""
    grad_norms = (-grad * (unit / norms)).sum(dim=1, keepdim=True)
    floored = norms <= NORM_EPS
    if bool(floored.any()):
        grad_norms = grad_norms.masked_fill(floored, 0.0)
    return grad / norms + grad_norms * unit


class IndirectObjective:
    """The paper's mean angle between unit text rows and their reconstructions through U (k × d).

    ``acos_safe`` as the authors: acos inside ±(1 − eps), a straight line beyond (edge angle in float32).
    """

    def __init__(self, texts: torch.Tensor, components: torch.Tensor, eps: float = 1e-7) -> None:
        self.texts = texts
        self.params = [components]
        self.eps = eps
        self.slope = math.acos(1 - eps) / eps
        self.mean_grad = torch.ones((), dtype=texts.dtype).expand(len(texts)) / len(texts)

    def loss(self) -> float:
        u, x, eps = self.params[0], self.texts, self.eps
        self.a = x.mm(u.t())
        self.v, self.a_norms = _normalize_rows(self.a)
        self.b = self.v.mm(u)
        self.r, self.b_norms = _normalize_rows(self.b)
        self.c = (x * self.r).sum(dim=1)
        self.inside = self.c.abs() <= 1 - eps
        self.all_inside = bool(self.inside.all())
        if self.all_inside:
            angles = torch.acos(self.c)
        else:
            self.sign = torch.sign(self.c)
            edge = torch.acos(self.sign * (1 - eps))
            beyond = edge - self.slope * self.sign * (self.c.abs() - 1 + eps)
            angles = torch.where(self.inside, torch.acos(self.c), beyond)
        return float(angles.mean())

    def gradients(self) -> list[torch.Tensor]:
        u, x, c = self.params[0], self.texts, self.c
        grad_c = self.mean_grad * -((-c * c + 1).rsqrt())
        if not self.all_inside:
            beyond = ((-self.mean_grad) * (self.slope * self.sign)) * self.sign
            grad_c = torch.where(self.inside, grad_c, beyond)
        grad_r = grad_c.unsqueeze(1).expand_as(x) * x
        grad_b = _normalize_rows_backward(grad_r, self.r, self.b_norms)
        grad_v = grad_b.mm(u.t())
        grad_u = self.v.t().mm(grad_b)
        grad_a = _normalize_rows_backward(grad_v, self.v, self.a_norms)
        return [grad_u + grad_a.t().mm(x)]

    def snapshot(self) -> torch.Tensor:
        return self.params[0].clone()


class AutoencoderObjective:
    """Sum of squared reconstruction errors of an MLP autoencoder on the (unit) text rows.

    ``layers`` alternates Linear weights and biases, encoder first; ``hidden_slopes`` gives the LeakyReLU
    slope after each Linear (None: no activation), as the paper's LAE (none) and AE (after the first Linear
    of the encoder and of the decoder). The snapshot keeps the encoder (the first ``n_encoder`` Linears).
    """

    def __init__(self, texts: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]],
                 slopes: list[float | None], n_encoder: int) -> None:
        self.texts = texts
        self.layers = layers
        self.slopes = slopes
        self.n_encoder = n_encoder
        self.params = [t for layer in layers for t in layer]

    def loss(self) -> float:
        h = self.texts
        self.inputs, self.pre = [], []
        for (weight, bias), slope in zip(self.layers, self.slopes):
            self.inputs.append(h)
            z = torch.addmm(bias, h, weight.t())
            self.pre.append(z)
            h = torch.nn.functional.leaky_relu(z, slope) if slope is not None else z
        self.error = h - self.texts
        return float((self.error ** 2).sum())

    def gradients(self) -> list[torch.Tensor]:
        grad = 2.0 * self.error
        grads: list[torch.Tensor] = []
        for index in reversed(range(len(self.layers))):
            weight, _ = self.layers[index]
            if self.slopes[index] is not None:
                grad = torch.ops.aten.leaky_relu_backward(grad, self.pre[index], self.slopes[index], False)
            grads += [grad.sum(dim=0), grad.t().mm(self.inputs[index])]
            if index:
                grad = grad.mm(weight)
        return grads[::-1]

    def snapshot(self) -> list[torch.Tensor]:
        return [t.clone() for layer in self.layers[:self.n_encoder] for t in layer]


class NormalizedSoftmaxObjective:
    """The Oracle's loss: cross-entropy of cosine logits between unit projections V = norm(X Uᵀ) and unit
    class proxies P, times ``scale`` (the authors: 1), with gradients for U and P."""

    def __init__(self, images: torch.Tensor, codes: torch.Tensor, components: torch.Tensor,
                 proxies: torch.Tensor, scale: float = 1.0) -> None:
        self.images = images
        self.codes = codes
        self.scale = scale
        self.params = [components, proxies]

    def loss(self) -> float:
        u, p = self.params
        self.a = self.images.mm(u.t())
        self.v, self.a_norms = _normalize_rows(self.a)
        self.q, self.p_norms = _normalize_rows(p)
        logits = self.v.mm(self.q.t())
        if self.scale != 1.0:
            logits = self.scale * logits
        self.log_probs = torch._log_softmax(logits, 1, False)
        value, self.total_weight = torch.ops.aten.nll_loss_forward(self.log_probs, self.codes, None, 1, -100)
        return float(value)

    def gradients(self) -> list[torch.Tensor]:
        u, p = self.params
        one = torch.ones((), dtype=self.log_probs.dtype)
        grad = torch.ops.aten.nll_loss_backward(one, self.log_probs, self.codes, None, 1, -100, self.total_weight)
        grad = torch.ops.aten._log_softmax_backward_data(grad, self.log_probs, 1, self.log_probs.dtype)
        if self.scale != 1.0:
            grad = grad * self.scale
        grad_v = grad.mm(self.q)
        grad_q = grad.t().mm(self.v)
        grad_p = _normalize_rows_backward(grad_q, self.q, self.p_norms)
        grad_a = _normalize_rows_backward(grad_v, self.v, self.a_norms)
        return [grad_a.t().mm(self.images), grad_p]

    def snapshot(self) -> torch.Tensor:
        return self.params[0].clone()
