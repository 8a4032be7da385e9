"""The ``local`` engine: tasks run one after another in this process, notebook jobs in spawned processes."""
from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
from typing import Any, Callable, Iterator, Sequence

from .._util.errors import ConfigError


class LocalEngine:
    """This machine: ``map`` runs in-process (so a task can report progress as it goes), jobs in a process pool."""

    name = "local"
    parallel = False

    def __init__(self, address: str | None = None) -> None:
        if address is not None:
            raise ConfigError(f"address={address!r} is only used with executor='ray': add --executor ray or drop it")

    def describe(self) -> str:
        """One line on where work runs."""
        return "local processes"

    def map(self, function: Callable[..., Any], tasks: Sequence[tuple], *, resources: dict | None = None,
            retries: int = 0, progress: Callable[[Any], None] | None = None) -> Iterator[tuple[int, Any]]:
        """``function(*task, progress=progress)`` for each task in order; its errors propagate as they are."""
        for number, task in enumerate(tasks):
            yield number, function(*task, progress=progress)

    def job_pool(self, n_jobs: int) -> "LocalJobPool":
        """Up to ``n_jobs`` spawned worker processes (a job's ``resources`` are Ray's business, not theirs)."""
        return LocalJobPool(n_jobs)


class LocalJobPool(futures.ProcessPoolExecutor):
    """A process pool of spawned workers whose ``submit`` takes (and ignores) a job's ``resources``."""

    def __init__(self, n_jobs: int) -> None:
        super().__init__(max_workers=max(1, n_jobs), mp_context=multiprocessing.get_context("spawn"))

    def submit(self, function: Callable[..., Any], /, *args: Any, resources: dict | None = None,
               **kwargs: Any) -> futures.Future:
        return super().submit(function, *args, **kwargs)
