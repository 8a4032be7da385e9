"""The ``ray`` engine: tasks and notebook jobs as Ray tasks, on one machine or a cluster (docs/CLUSTER.md).

Ray is optional (``pip install -e .[scale]``) and imported only here. The engine runs plain functions: the work
(a cache shard, a notebook job) and how it is retried, resourced and worded are the caller's.
"""
from __future__ import annotations

import concurrent.futures as futures
import logging
import os
import socket
from types import ModuleType
from typing import Any, Callable, Iterator, Sequence

from .._util.errors import ConfigError, IndirectError
from . import TaskFailed

CONNECT_TIMEOUT_S = 5.0
_REMOTE: dict[Callable, Any] = {}  # the Ray remote functions, made once per process


def require_ray() -> ModuleType:
    """The ``ray`` module, or a ConfigError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("executor='ray' needs Ray, which is not installed here: pip install -e .[scale] "
                          "(or pip install 'ray>=2.40'), or use executor='local'") from None
    return ray


def connect(address: str | None = None) -> ModuleType:
    """Attach this process to Ray and return the ``ray`` module.

    An already initialised Ray (e.g. your own ``ray.init(runtime_env=...)``) is used as it is. Otherwise
    ``address`` or ``$RAY_ADDRESS`` names a running cluster (``host:port`` of its head, or ``auto``); without
    either, Ray's own rule applies: the latest cluster started with ``ray start`` on this machine, else a new
    local instance with all cores.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address not in (None, "auto", "local"):
        _check_reachable(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConfigError(f"cannot connect to the Ray cluster at address={address!r}: {error}. Start it with "
                          "`ray start --head`, pass its head's host:port, or unset RAY_ADDRESS for a local Ray; "
                          "a cluster with token authentication also needs RAY_AUTH_MODE=token and its token "
                          "(docs/CLUSTER.md)") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds, naming the address, when nothing listens there (``ray.init`` would wait much longer)."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"Ray address={address!r} is not host:port: give the head node's address, e.g. "
                          "10.0.0.5:6379 (printed by `ray start --head`)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ConfigError(f"cannot reach the Ray cluster at address={address!r} ({error}): start it with "
                          "`ray start --head` on the head node, check host and port (6379 unless --port was "
                          "given), or unset RAY_ADDRESS / drop --address for a local Ray") from None


def _remote(function: Callable) -> Any:
    """``ray.remote(function)``, made once per process (Ray exports a function to the cluster once)."""
    if function not in _REMOTE:
        _REMOTE[function] = require_ray().remote(function)
    return _REMOTE[function]


class RayEngine:
    """Ray tasks: ``map`` sends one task per item (retried when its worker dies), jobs run as Ray tasks too."""

    name = "ray"
    parallel = True

    def __init__(self, address: str | None = None) -> None:
        self.ray = connect(address)

    def describe(self) -> str:
        """One line on the Ray cluster this process is attached to: nodes, CPUs, GPUs."""
        resources = self.ray.cluster_resources()
        nodes = sum(1 for node in self.ray.nodes() if node.get("Alive"))
        return (f"Ray cluster: {nodes} node(s), {resources.get('CPU', 0):g} CPU(s), {resources.get('GPU', 0):g} "
                f"GPU(s)")

    def map(self, function: Callable[..., Any], tasks: Sequence[tuple], *, resources: dict | None = None,
            retries: int = 0, progress: Callable[[Any], None] | None = None) -> Iterator[tuple[int, Any]]:
        """One Ray task per item, ``retries`` re-runs of a task whose worker died; results as they land. A
        project error inside a task is raised as it is; any other end is a ``TaskFailed``. On any exception
        (an interrupt too) the tasks still queued or running are cancelled."""
        ray = self.ray
        remote = _remote(function).options(max_retries=retries, **(resources or {}))
        pending = {remote.remote(*task): number for number, task in enumerate(tasks)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    number = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError as error:
                        if isinstance(error.cause, IndirectError):
                            raise error.cause from None
                        raise TaskFailed(number, False, str(error)) from None
                    except ray.exceptions.RayError as error:  # its worker died more often than retries allow
                        raise TaskFailed(number, True, f"{type(error).__name__}: {error}") from None
                    if progress is not None:
                        progress(result)
                    yield number, result
        except BaseException:
            _cancel(ray, pending)
            raise

    def job_pool(self, n_jobs: int) -> "RayJobPool":
        """Jobs as Ray tasks (``n_jobs`` is the cluster's business: each job reserves its ``resources``)."""
        return RayJobPool(self.ray)


def _cancel(ray: ModuleType, pending: dict) -> None:
    """Ask Ray to drop the tasks behind ``pending``'s object refs (queued ones never start)."""
    for ref in pending:
        try:
            ray.cancel(ref)
        except Exception:  # noqa: BLE001 - a task that just finished cannot be cancelled; nothing to do
            pass


JOB_RETRIES = 1
"""Times Ray re-runs a job whose worker died (a job that raises is a result, never retried)."""


class RayJobPool:
    """A job pool on Ray: ``submit`` starts ``function(*args)`` as a Ray task with ``resources`` and returns a
    ``concurrent.futures.Future``; a task whose worker is lost (after :data:`JOB_RETRIES` re-runs) or that cannot
    run sets the future's exception. Leaving the pool on an exception cancels what still runs."""

    def __init__(self, ray: ModuleType) -> None:
        self.ray = ray
        self._pending: list = []

    def __enter__(self) -> "RayJobPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None:  # the driver stops (an interrupt, an error): so does the cluster's work for it
            _cancel(self.ray, {ref: None for ref in self._pending})

    def submit(self, function: Callable[..., Any], /, *args: Any, resources: dict | None = None) -> futures.Future:
        ref = _remote(_in_cluster).options(max_retries=JOB_RETRIES, **(resources or {})).remote(function, *args)
        self._pending.append(ref)
        result: futures.Future = futures.Future()

        def settle(done: futures.Future) -> None:
            self._pending.remove(ref)
            try:
                result.set_result(done.result())
            except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the future
                result.set_exception(error)

        ref.future().add_done_callback(settle)
        return result


def _in_cluster(function: Callable[..., Any], *args: Any) -> Any:
    """Ray task: ``function(*args)`` with ``RAY_ADDRESS`` set, so processes it starts (a notebook kernel that
    caches on Ray) reach the same cluster."""
    import ray

    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    return function(*args)

