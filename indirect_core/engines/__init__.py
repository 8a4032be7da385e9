"""Engines: where independent pieces of work run, looked up by name in one registry (as papermill's engines).

An engine does two things: ``map`` runs a function over a list of tasks (the embedding cache's shards) and
``job_pool`` runs the batch's notebook jobs. ``local`` (this machine's processes) and ``ray`` (Ray tasks, past one
machine) are built in; their modules are imported only when looked up, so nothing here imports Ray, and an
engine imports nothing of the code that uses it: work arrives as plain functions and arguments.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, ContextManager, Iterator, Protocol, Sequence

from .._util.errors import ConfigError, IndirectError

DEFAULT_ENGINE = "local"


class TaskFailed(IndirectError):
    """A task of ``Engine.map`` ended without a result: ``number`` is its task number, ``lost`` says whether its
    worker died (more often than ``retries`` allowed) rather than the function raising; the caller words it."""

    def __init__(self, number: int, lost: bool, detail: str) -> None:
        super().__init__(detail)
        self.number, self.lost, self.detail = number, lost, detail


class Engine(Protocol):
    """What the cache and the batch runner ask of an engine."""

    name: str
    parallel: bool
    """True when ``map``'s tasks run side by side (then the cache hands over one shard per task)."""

    def map(self, function: Callable[..., Any], tasks: Sequence[tuple], *, resources: dict | None = None,
            retries: int = 0, progress: Callable[[Any], None] | None = None) -> Iterator[tuple[int, Any]]:
        """Run ``function(*task)`` for every task; yield ``(task number, result)`` as each finishes. ``progress``
        is called with each result (an in-process engine may also hand it to the function as ``progress=``)."""
        ...

    def job_pool(self, n_jobs: int) -> ContextManager[Any]:
        """A pool whose ``submit(function, *args, resources=...)`` returns a ``concurrent.futures.Future``."""
        ...


_FACTORIES: dict[str, Callable[..., Engine] | str] = {
    "local": "indirect_core.engines.local:LocalEngine",
    "ray": "indirect_core.engines.ray:RayEngine",
}


def register(name: str, factory: Callable[..., Engine] | str) -> None:
    """Make an engine available by ``name``: a factory ``factory(address=None) -> Engine``, or its
    ``"module:attribute"`` path, imported when the engine is first asked for."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"engine name {name!r} must be a non-empty string")
    _FACTORIES[name] = factory


def available_engines() -> tuple[str, ...]:
    """The registered engine names, built-in first."""
    return tuple(_FACTORIES)


def check_engine_name(name: Any, parameter: str = "executor") -> str:
    """``name`` must be a registered engine (it is not started)."""
    if name not in _FACTORIES:
        raise ConfigError(f"parameter {parameter}={name!r} must be one of {list(_FACTORIES)}")
    return name


def get_engine(name: str = DEFAULT_ENGINE, address: str | None = None) -> Engine:
    """The engine registered as ``name``, started (for Ray: attached to the cluster at ``address``)."""
    check_engine_name(name)
    factory = _FACTORIES[name]
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        factory = _FACTORIES[name] = getattr(importlib.import_module(module), attribute)
    return factory(address=address)


__all__ = ["DEFAULT_ENGINE", "Engine", "TaskFailed", "available_engines", "check_engine_name", "get_engine", "register"]
