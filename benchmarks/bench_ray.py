"""Benchmark: the Ray engine on this machine: caching with 2 Ray workers vs 1, and a plan through Ray vs the local pool.

What it measures
    (A) Caching throughput. N JPEG files (default 96, 500x375, quality 90, written by bench_image_cache's
        generator) embedded with the ViT-B/32 architecture with random weights ("random-vit-b-32") by
        ``ic.image_features(..., executor="ray")`` into a fresh cache folder, on a local Ray with 1 CPU and then
        with 2 CPUs: one shard task per CPU, each on THREADS_PER_SHARD (1) torch thread. Each Ray is warmed up
        first (every worker has started and loaded the backbone); timings are the median of ``--repeats``.
        For information: the local path (``executor="local"``, 2 torch threads) on the same files.
        Sanity: Ray's features equal the local path's at 1 thread bit for bit, and at 2 threads to 1e-6.
    (B) Ray's overhead at this scale. ``plans/smoke.yaml`` (with the plans it includes; ``--plan`` for another) through
        ``batch.run_plan(n_jobs=2)`` once on the local process pool and once on a local Ray with 2 CPUs
        (``executor="ray"``; starting Ray is not timed), each into fresh data, cache and run folders,
        interleaved over ``--plan-repeats`` rounds. Ratio = local seconds / Ray seconds (> 1: Ray faster).
        For information: the largest difference between the two runs' summary.csv numbers (Ray's notebooks
        run on one thread per reserved CPU, the local pool's on all cores, so the last bits may differ).

Acceptance
    (A) time with 1 worker / time with 2 workers >= 1.5 AND the sanity checks hold,
    AND (B) local / Ray >= 0.75 (Ray costs at most a third more than the pool at this small scale).

Run from the repository root: ``.venv/bin/python benchmarks/bench_ray.py`` (about 8 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _common import (REPO_ROOT, OtherLoad, default_cache_dir, print_table, result_line, setup_torch, time_call,
                     warn_if_busy)
from bench_image_cache import write_jpegs

OBJECT_STORE = 100 * 2**20  # bytes: shards travel as file paths and results are small


def _tree_seconds(root: int) -> float:
    """CPU seconds of the live descendants of ``root`` (with the children they reaped): Ray's workers and the
    kernels they start are not in RUSAGE_CHILDREN while they run."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents, times = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(v) for v in fields[11:15]) / ticks  # utime stime cutime cstime
    total = 0.0
    for pid in times:
        ancestor = parents.get(pid)
        while ancestor not in (None, 0, 1, root):
            ancestor = parents.get(ancestor)
        if ancestor == root:
            total += times[pid]
    return total


class TreeLoad(OtherLoad):
    """OtherLoad that counts this process's whole live process tree (Ray's services, workers, kernels) as its own."""

    @staticmethod
    def _own_seconds() -> float:
        return OtherLoad._own_seconds() + _tree_seconds(os.getpid())


def start_ray(cpus: int, temp: Path):
    """A local Ray with ``cpus`` CPUs, apart from any other cluster on the machine, its files under ``temp``."""
    import ray

    ray.init(address="local", num_cpus=cpus, object_store_memory=OBJECT_STORE, include_dashboard=False,
             logging_level=logging.WARNING, _temp_dir=str(temp))
    return ray


def caching_throughput(args, work: Path):
    """(A): seconds per method, features per method."""
    import torch

    import indirect_core as ic

    root = work / "images"
    seconds, _ = time_call(lambda: write_jpegs(root, args.n_images, 500, 375, 90, n_labels=4, seed=args.seed))
    backbone = ic.load_backbone(args.backbone, cache_dir=args.cache_dir)
    dataset = ic.load_dataset("image-folder", root=root)
    print(f"(A) {len(dataset)} JPEGs 500x375 q90 written in {seconds:.1f}s; backbone {backbone.name}; batch size "
          f"{args.batch_size}; shard size {args.shard_size}; driver torch threads {torch.get_num_threads()}")
    counter = iter(range(10 ** 6))

    def cache(data, executor: str, threads: int | None = None):
        folder = work / f"cache{next(counter)}"  # fresh: everything is computed
        before = torch.get_num_threads()
        torch.set_num_threads(threads or before)
        try:
            return ic.image_features(backbone, data, cache_dir=folder, batch_size=args.batch_size,
                                     shard_size=args.shard_size, progress=False, executor=executor).features
        finally:
            torch.set_num_threads(before)
            shutil.rmtree(folder, ignore_errors=True)

    times, features, cold = {}, {}, {}
    for workers in (1, 2):
        name = f"Ray, {workers} worker(s)"
        load = TreeLoad()
        ray = start_ray(workers, args.ray_temp)
        try:
            warm = dataset.subset(list(range(min(len(dataset), 2 * workers * args.shard_size))))
            cold[name], _ = time_call(lambda: cache(warm, "ray"))  # workers start and load the backbone
            runs = [time_call(lambda: cache(dataset, "ray")) for _ in range(args.repeats)]
            load.report()
        finally:
            ray.shutdown()
        times[name], features[name] = [t for t, _ in runs], runs[-1][1]
    cache(dataset.subset([0, 1]), "local")  # warm-up of the local path
    for threads in (2, 1):
        name = f"local path, {threads} thread(s)"
        runs = [time_call(lambda: cache(dataset, "local", threads)) for _ in range(args.repeats)]
        times[name], features[name] = [t for t, _ in runs], runs[-1][1]
    return dataset, times, features, cold


def plan_overhead(args, work: Path):
    """(B): seconds per engine and the two runs' summary tables."""
    import pandas as pd

    from indirect_core import batch

    plan = Path(args.plan).resolve()
    counter = iter(range(10 ** 6))
    jobs: dict[str, int] = {}

    def run(executor: str):
        base = work / f"plan{next(counter)}-{executor}"
        run_dir = batch.run_plan(plan, run_dir=base / "runs" / "bench", n_jobs=2, data_dir=base / "data",
                                 figures_dir=None, log=lambda _: None, executor=executor)
        jobs[executor] = len(list(run_dir.rglob("status.json")))
        return [pd.read_csv(p) for p in sorted(run_dir.rglob("summary.csv"))]

    load = TreeLoad()
    ray = start_ray(2, args.ray_temp)
    try:
        times = {"local process pool": [], "Ray, 2 CPUs": []}
        tables = {}
        for _ in range(args.plan_repeats):
            for name, executor in (("local process pool", "local"), ("Ray, 2 CPUs", "ray")):
                seconds, tables[name] = time_call(lambda e=executor: run(e))
                times[name].append(seconds)
        load.report()
    finally:
        ray.shutdown()
    print(f"(B) {Path(args.plan).name}: {jobs['local']} notebook job(s) per run, n_jobs=2")
    return times, tables


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=96, help="JPEG files for (A) (default 96)")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size of (A) (default 8)")
    parser.add_argument("--shard-size", type=int, default=8, help="shard size of (A): one Ray task each (8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of (A), median (default 3)")
    parser.add_argument("--plan", default=str(REPO_ROOT / "plans" / "smoke.yaml"), help="plan of (B)")
    parser.add_argument("--plan-repeats", type=int, default=1, help="interleaved rounds of (B) (default 1)")
    parser.add_argument("--threshold", type=float, default=1.5, help="min (A) 1-worker/2-worker time ratio")
    parser.add_argument("--plan-threshold", type=float, default=0.75, help="min (B) local/Ray time ratio")
    parser.add_argument("--backbone", default="random-vit-b-32", help="backbone of (A) (default random-vit-b-32)")
    parser.add_argument("--cache-dir", default=str(default_cache_dir()),
                        help="where the random-weight checkpoint is kept (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image content")
    args = parser.parse_args()

    setup_torch()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # local Ray instances only; no token needed
    os.environ.pop("RAY_ADDRESS", None)
    warn_if_busy()
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    args.ray_temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths live under it
    try:
        dataset, times, features, cold = caching_throughput(args, work)
        medians = {name: statistics.median(t) for name, t in times.items()}
        reference = features["local path, 1 thread(s)"]
        print()
        print_table(["method (A)", "median s", "images/s", "max |diff| vs local 1 thread", "first call s",
                     "all runs s"],
                    [[name, medians[name], len(dataset) / medians[name],
                      float((features[name] - reference).abs().max()), cold.get(name, "-"),
                      " ".join(f"{t:.2f}" for t in times[name])] for name in times])
        scaling = medians["Ray, 1 worker(s)"] / medians["Ray, 2 worker(s)"]
        exact = all(bool((features[f"Ray, {w} worker(s)"] == reference).all()) for w in (1, 2))
        close = float((features["Ray, 2 worker(s)"] - features["local path, 2 thread(s)"]).abs().max())

        print()
        plan_times, tables = plan_overhead(args, work)
        plan_medians = {name: statistics.median(t) for name, t in plan_times.items()}
        pairs = list(zip(tables["local process pool"], tables["Ray, 2 CPUs"]))
        numeric = [(a.select_dtypes("number") - b.select_dtypes("number")).abs().max().max() for a, b in pairs]
        table_diff = float(max(numeric)) if numeric else float("nan")
        print_table(["engine (B): " + Path(args.plan).name, "median s", "vs local", "all runs s"],
                    [[name, plan_medians[name], plan_medians["local process pool"] / plan_medians[name],
                      " ".join(f"{t:.1f}" for t in plan_times[name])] for name in plan_times])
        overhead = plan_medians["local process pool"] / plan_medians["Ray, 2 CPUs"]

        print()
        print_table(["check", "value", "limit", "ok"], [
            ["(A) Ray 1 worker / 2 workers (time)", scaling, f">= {args.threshold}", scaling >= args.threshold],
            ["(A) Ray features == local path at 1 thread", exact, "True", exact],
            ["(A) max |Ray - local path at 2 threads|", close, "1e-06", close <= 1e-6],
            ["(B) local pool / Ray (time)", overhead, f">= {args.plan_threshold}", overhead >= args.plan_threshold],
            ["(B) max |summary.csv local - Ray| (information)", table_diff, "-", "-"],
        ])
        passed = scaling >= args.threshold and exact and close <= 1e-6 and overhead >= args.plan_threshold
        versus_local = medians["local path, 2 thread(s)"] / medians["Ray, 2 worker(s)"]
        print(result_line("ray", scaling, f"(A) 1/2 workers >= {args.threshold:g}, features exact, (B) local/Ray "
                          f">= {args.plan_threshold:g}", passed, f"plan_local_over_ray={overhead:.2f} "
                          f"ray2_over_local_path={versus_local:.2f} max_abs_diff={close:.1e}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(args.ray_temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
