"""The lean training loop follows the authors' procedures bit for bit.

Each reference below is the authors' model written out as their code runs it (global seed, autograd,
``torch.optim.Adam``, the best-iterate/patience loop, deep copies of the best parameters); the package's
estimators must end with the same parameters (``torch.equal``) after the same number of iterations.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import indirect_core as ic
from indirect_core.core.models._objectives import IndirectObjective
from indirect_core.core.models._adam import ExactAdam
from indirect_core.core.models._patience import one_thread

ROOT = Path(__file__).resolve().parents[1]


def _patience_loop(params, loss_fn, snapshot, lr=0.01, weight_decay=0.0, patience=100, max_iter=None):
    """The authors' loop: zero_grad, loss, keep a copy on strict improvement, stop `patience` after it.

    (Run on one thread like the package's fits: on a busy 2-core machine two spinning threads are slow.)
    """
    with one_thread():
        return _loop(params, loss_fn, snapshot, lr, weight_decay, patience, max_iter)


def _loop(params, loss_fn, snapshot, lr, weight_decay, patience, max_iter):
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    best, best_it, it, kept = math.inf, 0, 0, None
    while True:
        it += 1
        optimizer.zero_grad()
        loss = loss_fn()
        if loss.item() < best:
            best, best_it, kept = loss.item(), it, snapshot()
        if it - best_it >= patience or (max_iter is not None and it >= max_iter):
            return kept, it, best_it
        loss.backward()
        optimizer.step()


def _authors_acos(x, eps=1e-7):
    slope = np.arccos(1 - eps) / eps
    out = torch.empty_like(x)
    good = abs(x) <= 1 - eps
    bad = ~good
    sign = torch.sign(x[bad])
    out[good] = torch.acos(x[good])
    out[bad] = torch.acos(sign * (1 - eps)) - slope * sign * (abs(x[bad]) - 1 + eps)
    return out


def _authors_indirect_loss(x, u):
    v = x @ u.T
    v = v / v.norm(dim=1, keepdim=True)
    r = v @ u
    r = r / r.norm(dim=1, keepdim=True)
    return torch.mean(_authors_acos(torch.sum(x * r, dim=1))) + 0 * torch.sum(
        torch.square(u @ u.T - torch.eye(u.shape[0])))


def authors_dimredrecon(texts, k, seed, max_iter=None):
    """DimRedRecon.fit: U ~ N(0, 0.1) from the global generator seeded by the run, Adam lr 0.01."""
    x = torch.as_tensor(texts, dtype=torch.float)
    x = x / x.norm(dim=1, keepdim=True)
    torch.manual_seed(seed)
    u = torch.normal(0, 0.1, (k, x.shape[1]), requires_grad=True, dtype=torch.float)
    return _patience_loop([u], lambda: _authors_indirect_loss(x, u), lambda: u.clone().detach(), max_iter=max_iter)


def authors_autoencoder(texts, k, seed, hidden=None, weight_decay=0.0, max_iter=None):
    """LinearAutoencoder (hidden=None) / Autoencoder (hidden=512, LeakyReLU, weight decay) of the authors."""
    x = torch.as_tensor(texts, dtype=torch.float)
    torch.manual_seed(seed)
    if hidden is None:
        encoder, decoder = torch.nn.Linear(x.shape[1], k), torch.nn.Linear(k, x.shape[1])
    else:
        encoder = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.LeakyReLU(),
                                      torch.nn.Linear(hidden, k))
        decoder = torch.nn.Sequential(torch.nn.Linear(k, hidden), torch.nn.LeakyReLU(),
                                      torch.nn.Linear(hidden, x.shape[1]))
    return _patience_loop(list(encoder.parameters()) + list(decoder.parameters()),
                          lambda: torch.sum(torch.square(x - decoder(encoder(x)))), lambda: copy.deepcopy(encoder),
                          weight_decay=weight_decay, max_iter=max_iter)


def authors_oracle(images, codes, k, seed, max_iter=None):
    """NormalizedSoftmax: cosine logits to class proxies, no temperature, CE; U then P from the global seed."""
    x = torch.as_tensor(images, dtype=torch.float)
    x = x / x.norm(dim=1, keepdim=True)
    torch.manual_seed(seed)
    u = torch.normal(0, 0.1, (k, x.shape[1]), requires_grad=True, dtype=torch.float)
    p = torch.normal(0, 0.1, (int(codes.max()) + 1, k), requires_grad=True, dtype=torch.float)
    loss_fn = torch.nn.CrossEntropyLoss()

    def loss():
        v = x @ u.T
        v = v / v.norm(dim=1, keepdim=True)
        return loss_fn(v @ (p / p.norm(dim=1, keepdim=True)).T, codes)

    return _patience_loop([u, p], loss, lambda: u.clone().detach(), max_iter=max_iter)


def _prompts(n, dim, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g) + 1.5 * torch.randn(1, dim, generator=g)


@pytest.mark.parametrize("n_prompts, dim, k, seed", [(17, 512, 128, 3), (40, 96, 48, 0)])
def test_indirect_is_the_authors_dimredrecon_bit_for_bit(n_prompts, dim, k, seed):
    """17 prompts, 512-d, k = 128 with the paper plan's options: the acceptance setting of the paper's model."""
    options = yaml.safe_load((ROOT / "plans" / "paper.yaml").read_text()).get("model_options") or {}
    texts = _prompts(n_prompts, dim, seed)
    reference, n_iter, best_iter = authors_dimredrecon(texts, k, seed)
    model = ic.make_model("indirect", n_components=k, random_state=seed, **options.get("indirect", {})).fit(texts)
    assert model.n_iter_ == n_iter and model.best_iter_ == best_iter
    assert n_iter == best_iter + 100 and n_iter > 150  # a real run that stopped by the patience rule
    assert torch.equal(model.components_, reference)


def test_indirect_gradient_equals_autograd_beyond_the_acos_edge():
    # Rows 0-2 are basis vectors that U reconstructs exactly (cosine 1, the linear extension of acos);
    # row 3 is not: both branches of acos_safe take part in one gradient.
    texts = torch.zeros(4, 8)
    texts[0, 0] = texts[1, 1] = texts[2, 2] = 1.0
    texts[3] = torch.linspace(-1, 1, 8)
    texts = texts / texts.norm(dim=1, keepdim=True)
    u = torch.zeros(3, 8)
    u[:, :3] = torch.eye(3)
    reference = u.clone().requires_grad_(True)
    loss = _authors_indirect_loss(texts, reference)
    loss.backward()
    objective = IndirectObjective(texts, u.clone())
    assert objective.loss() == loss.item()
    assert not objective.all_inside  # the extension branch is exercised
    assert torch.equal(objective.gradients()[0], reference.grad)


def test_linear_autoencoder_is_the_authors_bit_for_bit():
    texts = torch.nn.functional.normalize(_prompts(12, 48, 1), dim=1)
    encoder, n_iter, best_iter = authors_autoencoder(texts, 8, seed=2, max_iter=400)
    model = ic.core.models.LinearAutoencoder(n_components=8, random_state=2, tol=0, max_iter=400).fit(texts)
    assert (model.n_iter_, model.best_iter_) == (n_iter, best_iter)
    assert torch.equal(model.encoder_[0].weight, encoder.weight) and torch.equal(model.encoder_[0].bias, encoder.bias)


def test_autoencoder_is_the_authors_bit_for_bit():
    texts = torch.nn.functional.normalize(_prompts(9, 32, 4), dim=1)
    encoder, n_iter, best_iter = authors_autoencoder(texts, 8, seed=1, hidden=512, weight_decay=1e-2, max_iter=250)
    model = ic.core.models.Autoencoder(n_components=8, random_state=1, tol=0, max_iter=250).fit(texts)
    assert (model.n_iter_, model.best_iter_) == (n_iter, best_iter)
    for ours, theirs in zip(model.encoder_.parameters(), encoder.parameters()):
        assert torch.equal(ours, theirs)
    probe = torch.randn(5, 32)
    assert torch.equal(model.transform(probe), encoder(probe).detach())


def test_oracle_is_the_authors_normalized_softmax_bit_for_bit():
    g = torch.Generator().manual_seed(5)
    codes = torch.randint(0, 4, (60,), generator=g)
    images = torch.randn(4, 32, generator=g)[codes] + 0.8 * torch.randn(60, 32, generator=g)
    reference, n_iter, best_iter = authors_oracle(images, codes, 8, seed=7, max_iter=300)
    labels = np.array(["a", "b", "c", "d"])[codes.numpy()]  # sorted class names keep the authors' codes
    model = ic.core.models.Oracle(n_components=8, random_state=7, tol=0, max_iter=300).fit(images, labels)
    assert (model.n_iter_, model.best_iter_) == (n_iter, best_iter)
    assert torch.equal(model.components_, reference)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_exact_adam_matches_torch_adam(weight_decay, fused):
    """Both paths (numba kernels, torch's operations) give torch.optim.Adam's numbers bit for bit."""
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(64, 33, generator=g), torch.randn(35, generator=g)]
    grads = [[torch.randn(p.shape, generator=g) * 10.0 ** float(e) for p in start] for e in range(-6, 3)] * 2
    theirs = [p.clone().requires_grad_(True) for p in start]
    optimizer = torch.optim.Adam(theirs, lr=0.01, weight_decay=weight_decay)
    ours = [p.clone() for p in start]
    adam = ExactAdam(ours, lr=0.01, weight_decay=weight_decay, fused=fused)
    assert adam.fused is fused
    for step in grads:
        for p, grad in zip(theirs, step):
            p.grad = grad.clone()
        optimizer.step()
        adam.step(step)
        assert all(torch.equal(a, b.detach()) for a, b in zip(ours, theirs))


def test_fused_adam_falls_back_to_torch_when_its_arithmetic_differs(monkeypatch):
    """Kernels that round differently from torch (here: no fused multiply-add in the first moment) are refused
    with a warning, and the optimizer then uses torch's operations."""
    from indirect_core.core.models import _adam

    moments, update_in_place = _adam._kernels()
    from numba import njit

    @njit
    def unfused_moments(param, grad, exp_avg, exp_avg_sq, weight_decay, lerp_weight, beta2, one_minus_beta2, decay):
        for i in range(param.size):
            g = grad[i] + weight_decay * param[i] if decay else grad[i]
            exp_avg[i] = exp_avg[i] + lerp_weight * (g - exp_avg[i])
            exp_avg_sq[i] = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g

    monkeypatch.setattr(_adam, "_kernels", lambda: (unfused_moments, update_in_place))
    _adam.fused_available.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="do not reproduce torch"):
            adam = ExactAdam([torch.zeros(4)], lr=0.02)
        assert adam.fused is False
    finally:
        _adam.fused_available.cache_clear()


def _normalize(x):
    return torch.nn.functional.normalize(x, dim=1)


def test_a_zero_prompt_row_stays_zero_as_f_normalize_and_the_fit_equals_that_reference():
    """The authors' x / ‖x‖ turns a zero row into NaN; ours floors the norm as F.normalize does, which gives
    the same numbers on every other row. Reference: the authors' loop with F.normalize in place of x / ‖x‖."""
    texts = _prompts(12, 32, 6)
    texts[4] = 0.0
    x = _normalize(texts)
    torch.manual_seed(3)
    u = torch.normal(0, 0.1, (8, 32), requires_grad=True, dtype=torch.float)

    def loss():
        r = _normalize(_normalize(x @ u.T) @ u)
        return torch.mean(_authors_acos(torch.sum(x * r, dim=1)))

    reference, n_iter, best_iter = _patience_loop([u], loss, lambda: u.clone().detach(), max_iter=300)
    model = ic.InDiReCT(n_components=8, random_state=3, max_iter=300).fit(texts)
    assert (model.n_iter_, model.best_iter_) == (n_iter, best_iter)
    assert torch.equal(model.components_, reference) and torch.isfinite(model.components_).all()
    assert torch.equal(model.transform(torch.zeros(1, 32)), torch.zeros(1, 8))  # a zero image maps to zero


def test_an_oracle_with_a_zero_image_row_trains_as_f_normalize_would():
    g = torch.Generator().manual_seed(5)
    codes = torch.randint(0, 3, (30,), generator=g)
    images = torch.randn(3, 16, generator=g)[codes] + 0.8 * torch.randn(30, 16, generator=g)
    images[7] = 0.0
    x = _normalize(images)
    torch.manual_seed(2)
    u = torch.normal(0, 0.1, (4, 16), requires_grad=True, dtype=torch.float)
    p = torch.normal(0, 0.1, (3, 4), requires_grad=True, dtype=torch.float)
    loss_fn = torch.nn.CrossEntropyLoss()
    reference, n_iter, best_iter = _patience_loop(
        [u, p], lambda: loss_fn(_normalize(x @ u.T) @ _normalize(p).T, codes), lambda: u.clone().detach(),
        max_iter=200)
    model = ic.core.models.Oracle(n_components=4, random_state=2, tol=0, max_iter=200).fit(images, codes.numpy())
    assert (model.n_iter_, model.best_iter_) == (n_iter, best_iter)
    assert torch.equal(model.components_, reference)


@pytest.mark.parametrize("name", ["indirect", "oracle"])
def test_integer_features_fit_as_their_float_values(name):
    rng = np.random.default_rng(0)
    features = rng.integers(-3, 4, size=(24, 16))
    features[5] = 0  # integer data readily holds a zero row
    labels = np.arange(24) % 3
    as_int = ic.make_model(name, n_components=4, random_state=1, max_iter=120).fit(features, labels)
    as_float = ic.make_model(name, n_components=4, random_state=1, max_iter=120).fit(features.astype(np.float32),
                                                                                      labels)
    assert torch.isfinite(as_int.components_).all()
    assert torch.equal(as_int.components_, as_float.components_)


def test_a_loss_that_is_never_finite_is_one_clear_error():
    from indirect_core._util.errors import ConfigError
    from indirect_core.core.models._patience import fit_with_patience

    class NaNObjective:
        params = [torch.zeros(2, 2)]

        def loss(self):
            return float("nan")

        def gradients(self):
            return [torch.zeros(2, 2)]

        def snapshot(self):
            return self.params[0].clone()

    with pytest.raises(ConfigError, match="never finite"):
        fit_with_patience(NaNObjective(), patience=3)
