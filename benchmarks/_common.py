"""Helpers shared by the benchmark scripts (timing, tables, the RESULT line). Not a benchmark itself."""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

# The benchmarks import the package from the repository they live in, whatever the working directory.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

THREADS = 2


def setup_torch(threads: int = THREADS) -> None:
    """Same thread count for every measurement of every script (the reference machine has 2 cores)."""
    import torch

    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies summed over all CPUs from /proc/stat, or None where that file does not exist."""
    try:
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def warn_if_busy(limit: float = 0.25, seconds: float = 1.0) -> None:
    """Say so when other processes keep the CPUs busy (> ``limit`` of all cores over ``seconds``) just before
    the measurements: ratios are taken within one run, but a competing load still skews them."""
    before = _cpu_times()
    time.sleep(seconds)
    after = _cpu_times()
    if before is None or after is None or after[1] == before[1]:
        return
    busy = (after[0] - before[0]) / (after[1] - before[1])
    if busy > limit:
        print(f"WARNING: the CPUs were {busy:.0%} busy with other work just before the benchmark: the timings "
              f"below may be skewed; rerun on an idle machine")


class OtherLoad:
    """Share of the machine's CPU time used by *other* processes between construction and ``report()``
    (system busy time from /proc/stat minus this process's and its finished children's CPU time)."""

    def __init__(self) -> None:
        self.start = (_cpu_times(), self._own_seconds(), time.perf_counter())

    @staticmethod
    def _own_seconds() -> float:
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def report(self, limit: float = 0.10) -> None:
        """Print the share; add a WARNING when it exceeds ``limit`` (timings then may be skewed)."""
        cpu_before, own_before, wall_before = self.start
        cpu_after = _cpu_times()
        if cpu_before is None or cpu_after is None:
            return
        ticks = os.sysconf("SC_CLK_TCK")
        cores = os.cpu_count() or 1
        wall = time.perf_counter() - wall_before
        others = (cpu_after[0] - cpu_before[0]) / ticks - (self._own_seconds() - own_before)
        share = max(0.0, others) / (wall * cores)
        print(f"other processes used {share:.0%} of the {cores} cores during the measurements")
        if share > limit:
            print("WARNING: other processes competed for the CPU during the measurements: the timings may be "
                  "skewed; rerun on an idle machine")


def default_cache_dir() -> Path:
    """Where random-weight backbone checkpoints are kept between runs: outside the repository.

    ``$INDIRECT_BENCH_CACHE`` if set, else ``<tmp>/indirect_core_bench_cache``.
    """
    return Path(os.environ.get("INDIRECT_BENCH_CACHE", Path(tempfile.gettempdir()) / "indirect_core_bench_cache"))


def time_call(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds taken by one call of ``fn`` and its return value."""
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def interleaved_medians(methods: dict[str, Callable[[], object]], repeats: int) -> tuple[dict[str, float],
                                                                                        dict[str, list[float]],
                                                                                        dict[str, object]]:
    """Run every method ``repeats`` times, alternating between methods so slow drifts of the machine hit all
    of them alike; return the median seconds, all timings and the last return value of each."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    values: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            seconds, values[name] = time_call(fn)
            times[name].append(seconds)
    return {name: statistics.median(t) for name, t in times.items()}, times, values


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain fixed-width table."""
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for number, row in enumerate(cells):
        print("  ".join(cell.rjust(width) if number else cell.ljust(width) for cell, width in zip(row, widths)))
        if number == 0:
            print("  ".join("-" * width for width in widths))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}" if abs(value) < 10 else f"{value:.1f}"
        return f"{value:.2e}"
    return str(value)


def result_line(name: str, ratio: float, threshold: str, passed: bool, extra: str = "") -> str:
    """The machine-readable last line every script prints."""
    tail = f" {extra}" if extra else ""
    return f"RESULT: {name} ratio={ratio:.2f} (threshold {threshold}){tail} {'PASS' if passed else 'FAIL'}"
