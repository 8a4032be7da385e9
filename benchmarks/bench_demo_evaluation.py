"""Benchmark: the demo's evaluation (notebook 03 of plans/demo.yaml) before and after the lean, parallel fits.

What it measures
    The demo plan's evaluation: synthetic-shapes (1000 images), its three notions, the plan's models and
    options, 5 seeds, k = 128, on random-tiny features (cached once before timing). Two ways, in one run:

    baseline  the way the package ran it before: one fit after another in this process, the Adam-trained fits on
              ``--baseline-threads`` (default 1, the package's fits run on one thread too: with 2 threads the
              Oracle's multi-threaded reductions over the 1000 images round differently and its trajectory,
              iteration count and table row change), the metrics on the process's threads as the package's,
              every Adam-trained model (InDiReCT, LAE, AE, Oracle) through autograd and torch.optim.Adam with
              deep-copied best snapshots (re-implemented below from the authors' loop, with the package's
              patience tolerance and iteration cap); the other models through the package.
    package   ``ic.analysis.study.evaluate_notions(..., n_jobs=2)``: hand-written exact gradients, Adam written out,
              one thread per fit, the Adam-trained fits in two worker processes.

    Both tables must be identical (every metric of every run equal) and so must every fit's iteration count.

Acceptance
    identical tables AND time ratio baseline / package >= 3.

Run: ``.venv/bin/python benchmarks/bench_demo_evaluation.py`` (about 9-11 minutes on 2 idle cores;
``--seeds 2`` for a quicker look).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import math
import sys
import tempfile
import time
from pathlib import Path

import yaml

from _common import REPO_ROOT, OtherLoad, default_cache_dir, result_line, setup_torch, warn_if_busy


def _loop(params, loss_fn, snapshot, lr, weight_decay, patience, tol, max_iter):
    """The authors' loop on autograd with the package's tolerance and cap (as the package ran it before)."""
    import torch

    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    best, it, kept = math.inf, 0, None
    anchor, anchor_it = math.inf, 0
    while True:
        it += 1
        loss = loss_fn()
        value = float(loss.detach())
        if value < best:
            best, kept = value, snapshot()
        if anchor_it == 0 or value < anchor - tol * abs(anchor):
            anchor, anchor_it = value, it
        if it - anchor_it >= patience or (max_iter is not None and it >= max_iter):
            return kept, it
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def baseline_fit(model, texts, images, labels):
    """Fit an Adam-trained model of the package with the autograd loop; returns the fitted model."""
    import numpy as np
    import torch

    from indirect_core.core.models._base import l2_normalize, normalized_unless_unit, seed_of
    from indirect_core.core.models.indirect import indirect_loss

    seed = seed_of(model.random_state)
    if isinstance(model, __import__("indirect_core").InDiReCT):
        x = l2_normalize(texts)
        u = torch.normal(0.0, 0.1, (model.n_components, x.shape[1]), generator=torch.Generator().manual_seed(seed))
        u.requires_grad_(True)
        kept, it = _loop([u], lambda: indirect_loss(u, x), lambda: u.detach().clone(), model.lr, 0.0,
                         model.patience, 0.0, model.max_iter)
        model._finish(x, kept, [], it)
        return model
    if model.fit_input == "image_labels":  # the Oracle
        x = l2_normalize(images)
        classes, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
        codes = torch.as_tensor(codes.reshape(-1))
        g = torch.Generator().manual_seed(seed)
        u = torch.normal(0.0, 0.1, (model.n_components, x.shape[1]), generator=g).requires_grad_(True)
        p = torch.normal(0.0, 0.1, (len(classes), model.n_components), generator=g).requires_grad_(True)
        ce = torch.nn.CrossEntropyLoss()
        kept, it = _loop([u, p], lambda: ce(model.scale * (l2_normalize(x @ u.T) @ l2_normalize(p).T), codes),
                         lambda: u.detach().clone(), model.lr, 0.0, model.patience, model.tol, model.max_iter)
        model.components_, model.classes_, model.n_iter_ = kept, classes, it
        return model
    x = normalized_unless_unit(texts)  # LAE / AE
    spec, n_encoder = model._architecture(x.shape[1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        linears = [torch.nn.Linear(a, b) for a, b, _ in spec]
    layers = []
    for linear, (_, _, slope) in zip(linears, spec):
        layers += [linear] + ([torch.nn.LeakyReLU(slope)] if slope is not None else [])
    cut = layers.index(linears[n_encoder - 1]) + 1
    encoder, decoder = torch.nn.Sequential(*layers[:cut]), torch.nn.Sequential(*layers[cut:])
    kept, it = _loop(list(encoder.parameters()) + list(decoder.parameters()),
                     lambda: ((decoder(encoder(x)) - x) ** 2).sum(), lambda: copy.deepcopy(encoder), model.lr,
                     model.weight_decay, model.patience, model.tol, model.max_iter)
    model.encoder_, model.n_iter_ = kept.eval().requires_grad_(False), it
    return model


@contextlib.contextmanager
def fit_threads(threads):
    """torch's thread count for the block (the Adam-trained fits); the metrics keep the process's count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def baseline_evaluation(notions, images, data, plan, seeds, threads=1):
    """One notion × model × seed after another, as before; the Adam-trained fits on ``threads`` threads."""
    import pandas as pd

    import indirect_core as ic
    from indirect_core.analysis.experiment import RUN_COLUMNS

    rows = []
    for notion, texts in notions:
        labels = notion.labels(data)
        for key in plan["models"]:
            for seed in seeds:
                model = ic.make_model(key, n_components=plan["n_components"], random_state=seed,
                                      **(plan.get("model_options") or {}).get(key, {}))
                try:
                    if model.parallel_fit:
                        with fit_threads(threads):
                            baseline_fit(model, texts, images, labels)
                    elif model.fit_input == "text":
                        model.fit(texts)
                    else:
                        model.fit() if model.fit_input == "none" else model.fit(images, labels)
                    metrics = ic.evaluate(model.transform(images), labels)
                except ic.NotApplicableError:
                    metrics = {m: float("nan") for m in ic.core.metrics.METRICS}
                rows.append({"notion": notion.name, "model": key, "seed": seed, **metrics,
                             "n_iter": getattr(model, "n_iter_", None)})
    return pd.DataFrame(rows, columns=[c for c in RUN_COLUMNS if c not in ("fit_seconds", "evaluate_seconds",
                                                                          "note")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plan", default=str(REPO_ROOT / "plans" / "demo.yaml"))
    parser.add_argument("--seeds", type=int, default=None, help="repetitions (default: the plan's)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes of the package (2)")
    parser.add_argument("--threshold", type=float, default=3.0)
    parser.add_argument("--baseline-threads", type=int, default=1,
                        help="torch threads of the baseline's Adam-trained fits (1: the package's arithmetic, "
                             "identical tables; 2: as the package ran before, the Oracle rows then differ)")
    parser.add_argument("--cache-dir", default=str(default_cache_dir()))
    args = parser.parse_args()

    setup_torch()
    import numpy as np

    import indirect_core as ic

    plan = yaml.safe_load(Path(args.plan).read_text())
    (dataset, settings), = plan["datasets"].items()
    seeds = list(range(args.seeds or plan["seeds"]))
    backbone = ic.load_backbone("random-tiny", cache_dir=args.cache_dir)
    root = Path(tempfile.gettempdir()) / "indirect_core_bench_data" / dataset
    data = ic.load_dataset(dataset, root=root, **(settings.get("options") or {}), progress=False)
    cached = ic.image_features(backbone, data, cache_dir=args.cache_dir, progress=False)
    notions = [(n.for_dataset(data), backbone.encode_texts(n.for_dataset(data).prompts))
               for n in ic.data.notions.notions_for(dataset)]
    print(f"{dataset}: {len(data)} images, notions {[n.name for n, _ in notions]}, models {plan['models']}, "
          f"seeds {seeds}, k={plan['n_components']}, options {plan.get('model_options') or {}}")
    warn_if_busy()
    load = OtherLoad()

    started = time.perf_counter()
    result = ic.analysis.study.evaluate_notions(backbone, data, cached.features, [n for n, _ in notions], models=plan["models"],
                                       seeds=seeds, n_components=plan["n_components"],
                                       model_options=plan.get("model_options"), n_jobs=args.jobs, progress=False)
    package_seconds = time.perf_counter() - started
    print(f"package: {package_seconds:.1f} s", flush=True)
    started = time.perf_counter()
    before = baseline_evaluation(notions, cached.features, data, plan, seeds, threads=args.baseline_threads)
    baseline_seconds = time.perf_counter() - started
    print(f"baseline: {baseline_seconds:.1f} s", flush=True)

    after = result.runs
    metrics = list(ic.core.metrics.METRICS)
    same = (list(before.model) == list(after.model) and
            np.array_equal(before[metrics].to_numpy(), after[metrics].to_numpy(), equal_nan=True) and
            before.n_iter.fillna(-1).astype(int).tolist() == after.n_iter.fillna(-1).astype(int).tolist())
    fit = after.groupby("model", sort=False)["fit_seconds"].sum()
    print("\nfit seconds per model (package, summed over notions and seeds, in the workers):")
    print(fit.round(1).to_string())
    ratio = baseline_seconds / package_seconds
    differing = sorted(set(before.model[(before[metrics].to_numpy() != after[metrics].to_numpy()).any(axis=1)
                                        & ~(before[metrics].isna().to_numpy().all(axis=1))]))
    print(f"\nbaseline ({args.baseline_threads} thread(s)) {baseline_seconds:.1f} s, package {package_seconds:.1f} s: "
          f"ratio {ratio:.2f}; rows that differ: {differing or 'none'}; "
          f"identical tables and iteration counts: {same}")
    load.report()
    print(result_line("demo_evaluation", ratio, f">= {args.threshold:g}x with identical tables",
                      same and ratio >= args.threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
