"""Benchmark: the package's InDiReCT (the authors' procedure, lean) against the authors' DimRedRecon.fit.

What it measures
    The baseline is the authors' ``DimRedRecon.fit`` re-implemented here from their code's behaviour: U drawn
    with ``torch.normal(0, 0.1, (k, d))`` from the global generator after ``torch.manual_seed(seed)``,
    ``Adam([U], lr=0.01)``, and per iteration: ``pbar.update(1)``, ``zero_grad``, the loss (encode, normalise,
    decode, normalise, ``acos_safe`` of the cosines via boolean-mask indexing, plus their inert
    ``0 * ||U Uᵀ − I||²`` term), ``pbar.set_description`` with the loss (a tqdm bar writing to an in-memory
    stream here, so a terminal's drawing speed does not count), keep a copy of U on a strict improvement,
    stop 100 iterations after the best one, else backward and step. The same loop without the progress bar
    is timed too and printed for reference.

    Ours: ``ic.InDiReCT(n_components=k, random_state=seed).fit(X)`` (hand-written exact gradients, Adam's
    update written out, one thread). Every fit must return the same U (max |diff| <= 1e-6; in practice 0)
    after the same number of iterations. Then five seeds: the authors' fits one after the other against ours
    spread over two worker processes (``ic.analysis.experiment.parallel_fits``), as the evaluation runs them.
    ``InDiReCT (L-BFGS)``, our other solver of the objective, is printed for information (loss and time).

    Feature sets (k = 128, d = 512): 17 and 120 prompts with a structure like CLIP prompt features (a shared
    template direction plus a power-law spectrum).

Acceptance
    single fit: same U and iterations on every set AND time ratio authors / ours >= 3 on every set.

Run: ``.venv/bin/python benchmarks/bench_indirect_fit.py`` (about 3-6 minutes on 2 idle cores).
"""
from __future__ import annotations

import argparse
import io
import math
import statistics
import sys

from _common import OtherLoad, print_table, result_line, setup_torch, time_call, warn_if_busy

# ------------------------------------------------------------------ the authors' procedure, re-implemented


def _authors_acos_safe(x, eps: float = 1e-7):
    """Their acos with a straight-line continuation past +-(1 - eps), filled in through boolean masks."""
    import numpy as np
    import torch

    slope = np.arccos(1 - eps) / eps
    out = torch.empty_like(x)
    inside = abs(x) <= 1 - eps
    outside = ~inside
    sign = torch.sign(x[outside])
    out[inside] = torch.acos(x[inside])
    out[outside] = torch.acos(sign * (1 - eps)) - slope * sign * (abs(x[outside]) - 1 + eps)
    return out


def _authors_loss(x, u, k: int):
    import torch

    v = x @ u.T
    v = v / v.norm(dim=1, keepdim=True)
    r = v @ u
    r = r / r.norm(dim=1, keepdim=True)
    return torch.mean(_authors_acos_safe(torch.sum(x * r, dim=1))) + 0 * torch.sum(
        torch.square(u @ u.T - torch.eye(k)))


def authors_fit(texts, k: int, seed: int, progress_bar: bool = True):
    """DimRedRecon.fit as the authors ran it. Returns (best U, iterations run)."""
    import torch
    from tqdm import tqdm

    x = torch.as_tensor(texts, dtype=torch.float)
    x = x / x.norm(dim=1, keepdim=True)
    torch.manual_seed(seed)
    u = torch.normal(0, 0.1, (k, x.shape[1]), requires_grad=True, dtype=torch.float)
    optimizer = torch.optim.Adam([u], lr=0.01)
    best, best_it, it, kept = math.inf, 0, 0, None
    bar = tqdm(file=io.StringIO(), disable=not progress_bar)
    while True:
        it += 1
        bar.update(1)
        optimizer.zero_grad()
        loss = _authors_loss(x, u, k)
        bar.set_description(f"Loss ({it}): {loss.item()}")
        if loss.item() < best:
            best, best_it, kept = loss, it, u.clone().detach()
        if it - best_it >= 100:
            break
        loss.backward()
        optimizer.step()
    bar.close()
    return kept, it


def _ours(texts, k: int, seed: int):
    import indirect_core as ic

    model = ic.InDiReCT(n_components=k, random_state=seed).fit(texts)
    return model.components_, model.n_iter_


# ------------------------------------------------------------------ feature sets


def prompt_like_features(n: int, dim: int, seed: int, alpha: float = 0.8, context: float = 1.0):
    """Unit rows: a shared template direction plus a random part with a power-law spectrum."""
    import torch

    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    spectrum = torch.arange(1, dim + 1, dtype=torch.float64) ** (-alpha)
    varied = (torch.randn(n, dim, generator=g, dtype=torch.float64) * spectrum) @ basis.T
    shared = torch.nn.functional.normalize(torch.randn(1, dim, generator=g, dtype=torch.float64), dim=1)
    rows = context * shared + torch.nn.functional.normalize(varied, dim=1)
    return torch.nn.functional.normalize(rows, dim=1).float()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, nargs="+", default=[17, 120], help="prompt counts (17 120)")
    parser.add_argument("--n-components", type=int, default=128)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each single fit (median)")
    parser.add_argument("--seeds", type=int, default=5, help="fits in the multi-seed comparison (5)")
    parser.add_argument("--threshold", type=float, default=3.0, help="min time ratio authors / ours (3)")
    args = parser.parse_args()

    setup_torch()
    warn_if_busy()
    load = OtherLoad()
    import torch

    import indirect_core as ic
    from indirect_core.analysis.experiment import fit_model, parallel_fits
    from indirect_core.core.models.indirect import indirect_loss

    k = args.n_components
    authors_fit(prompt_like_features(17, args.dim, 99), k, 0)  # warm-up
    _ours(prompt_like_features(17, args.dim, 99), k, 0)
    rows, ratios, passes = [], [], []
    for n in args.prompts:
        texts = prompt_like_features(n, args.dim, seed=100 + n)
        times = {"authors": [], "authors, no bar": [], "ours": []}
        for _ in range(args.repeats):
            seconds, (their_u, their_iters) = time_call(lambda: authors_fit(texts, k, args.seed))
            times["authors"].append(seconds)
            seconds, _ = time_call(lambda: authors_fit(texts, k, args.seed, progress_bar=False))
            times["authors, no bar"].append(seconds)
            seconds, (our_u, our_iters) = time_call(lambda: _ours(texts, k, args.seed))
            times["ours"].append(seconds)
        medians = {name: statistics.median(values) for name, values in times.items()}
        diff = float((their_u - our_u).abs().max())
        same = diff <= 1e-6 and their_iters == our_iters
        ratio = medians["authors"] / medians["ours"]
        lbfgs_seconds, lbfgs = time_call(lambda: ic.InDiReCTLBFGS(n_components=k).fit(texts))
        with torch.no_grad():
            adam_loss = float(indirect_loss(our_u, torch.nn.functional.normalize(texts, dim=1)))
        ok = same and ratio >= args.threshold
        passes.append(ok)
        ratios.append(ratio)
        rows.append([f"{n}x{args.dim}", their_iters, our_iters, f"{diff:.1e}", medians["authors"],
                     medians["authors, no bar"], medians["ours"], f"{ratio:.2f}",
                     f"{medians['authors, no bar'] / medians['ours']:.2f}", f"{adam_loss:.5f}",
                     f"{lbfgs.loss_:.5f}", lbfgs_seconds, "PASS" if ok else "FAIL"])
        print(f"  {n} prompts: authors {medians['authors']:.2f}s, ours {medians['ours']:.2f}s, "
              f"same U: {same} (max |diff| {diff:.1e})", flush=True)

        # Five seeds: theirs one after the other, ours over two worker processes.
        seeds = list(range(args.seeds))
        their_seconds, theirs = time_call(lambda: [authors_fit(texts, k, s)[0] for s in seeds])
        with parallel_fits(2) as pool:
            pool.submit(fit_model, "indirect", 0, 8, {"max_iter": 2}, texts[:, :16]).result()  # workers up
            our_seconds, fitted = time_call(lambda: [f.result() for f in [
                pool.submit(fit_model, "indirect", s, k, {}, texts) for s in seeds]])
        same_all = all(torch.equal(a, f.model.components_) for a, f in zip(theirs, fitted))
        print(f"  {n} prompts, {len(seeds)} seeds: authors one by one {their_seconds:.1f}s, ours on 2 workers "
              f"{our_seconds:.1f}s (ratio {their_seconds / our_seconds:.2f}), same U for every seed: {same_all}")

    print()
    print_table(["prompts", "authors it", "ours it", "max |dU|", "authors s", "authors s (no bar)", "ours s",
                 "ratio", "ratio (no bar)", "loss", "L-BFGS loss", "L-BFGS s", "verdict"], rows)
    load.report()
    print(result_line("indirect_fit", min(ratios), f"authors/ours >= {args.threshold:g}x with the same U",
                      all(passes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
