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
