"""Ray as the engine past one machine: embedding-cache shards and notebook jobs as Ray tasks.

Ray is optional (``pip install -e .[scale]``) and imported only here, only when ``executor="ray"`` is chosen.
The engine changes nothing else: a shard task writes the same atomic shard file into the same cache folder as
the local path, and a notebook task runs ``batch.execute_job`` into the same job folder, so resuming, the
run index and the numbers are the same whichever engine filled them. Workers need the paths the driver
passes (data, cache, run folder, the backbone's weights, the notebooks) at the same place: see
docs/CLUSTER.md.
"""
from __future__ import annotations

import concurrent.futures as futures
import logging
import os
import socket
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

from .errors import BackboneError, ConfigError, DatasetError, IndirectError

if TYPE_CHECKING:  # the heavy modules are only needed when Ray actually runs something
    from tqdm import tqdm

    from .backbone import Backbone
    from .batch import Job
    from .datasets import Dataset

EXECUTORS = ("local", "ray")
"""Engines: ``local`` (this process or a local process pool, the default) and ``ray`` (Ray tasks)."""
SHARD_RETRIES = 3
"""Times Ray re-runs a shard task whose worker died (a crashed or killed process, a lost node)."""
JOB_RETRIES = 1
"""Times Ray re-runs a notebook job whose worker died (a failing notebook is a result, never retried)."""
THREADS_PER_SHARD = 1
"""CPU threads (and Ray CPUs) of one shard task on a CPU node: Ray runs one task per core, each on its own."""
GPU_SHARE = 0.25
"""Ray GPUs of a notebook that mostly embeds prompts on a CUDA device (fit, evaluate): four share a GPU."""
WHOLE_GPU_JOBS = ("cache", "attribution", "train_mapper")
"""Kinds of notebook job (keys of ``batch.NOTEBOOKS``) that take a whole GPU on a CUDA device."""
CONNECT_TIMEOUT_S = 5.0

_BACKBONES: dict[tuple[str, str, str], "Backbone"] = {}  # per worker process: the backbone its shard tasks use
_REMOTE: dict[str, Any] = {}  # the Ray remote functions, made once per process


def check_executor(executor: Any, name: str = "executor") -> str:
    """``executor`` must be one of :data:`EXECUTORS`; ``"ray"`` also needs Ray to be installed."""
    if executor not in EXECUTORS:
        raise ConfigError(f"parameter {name}={executor!r} must be one of {list(EXECUTORS)}")
    if executor == "ray":
        require_ray()
    return executor


def check_engine(executor: Any, address: str | None = None) -> str:
    """Validate where work will run before any of it starts: ``address`` goes only with ``executor="ray"``,
    and Ray is attached now, so a missing install or an unreachable cluster fails first."""
    check_executor(executor)
    if executor == "ray":
        connect(address)
    elif address is not None:
        raise ConfigError(f"address={address!r} is only used with executor='ray': add --executor ray or drop it")
    return executor


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


def _remote(name: str, function: Callable) -> Any:
    """``ray.remote(function)``, made once per process (Ray exports a function to the cluster once)."""
    if name not in _REMOTE:
        _REMOTE[name] = require_ray().remote(function)
    return _REMOTE[name]


# --- the embedding cache: one Ray task per missing shard ---------------------------------------------------

def backbone_recipe(backbone: "Backbone") -> dict:
    """What a worker needs to load the same backbone: its weights file, name, sha256 and device type."""
    return {"path": str(Path(backbone.weights_path).resolve()), "name": backbone.name,
            "sha256": backbone.weights_sha256, "device": backbone.device.type}


def shard_resources(device_type: str) -> dict:
    """Ray resources of one shard task: a whole GPU on CUDA, else :data:`THREADS_PER_SHARD` CPUs."""
    if device_type == "cuda":
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_cpus": THREADS_PER_SHARD}


def compute_shards(backbone: "Backbone", dataset: "Dataset", folder: Path, shards: list[range],
                   names: list[str], missing: list[int], batch_size: int, num_workers: int, on_error: str,
                   bar: "tqdm") -> None:
    """Compute the ``missing`` shards as Ray tasks (``cache._compute_shards`` on each worker, one shard per task)
    and advance ``bar`` as each one lands; the first project error of a task is raised here, as it is locally."""
    ray = connect()
    task = _remote("cache_shard", _cache_shard).options(max_retries=SHARD_RETRIES,
                                                          **shard_resources(backbone.device.type))
    recipe = backbone_recipe(backbone)
    folder = Path(folder).resolve()
    pending = {task.remote(recipe, _shard_dataset(dataset, shards[number]), str(folder / names[number]),
                           batch_size, num_workers, on_error, THREADS_PER_SHARD): number for number in missing}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                number = pending.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayTaskError as error:
                    if isinstance(error.cause, IndirectError):
                        raise error.cause from None
                    raise DatasetError(f"caching shard {number} of {dataset.name} on Ray failed: {error}") from None
                except ray.exceptions.RayError as error:  # its worker died more often than SHARD_RETRIES allow
                    raise DatasetError(f"caching shard {number} of {dataset.name} on Ray lost its worker "
                                       f"{SHARD_RETRIES + 1} times ({type(error).__name__}: {error}); finished "
                                       "shards are kept: run again to resume") from None
                bar.update(len(shards[number]))
    except BaseException:  # a failed shard, an interrupt: stop the cluster's work on the rest, keep what is done
        _cancel(ray, pending)
        raise


def _cancel(ray: ModuleType, pending: dict) -> None:
    """Ask Ray to drop the tasks behind ``pending``'s object refs (queued ones never start)."""
    for ref in pending:
        try:
            ray.cancel(ref)
        except Exception:  # noqa: BLE001 - a task that just finished cannot be cancelled; nothing to do
            pass


def _shard_dataset(dataset: "Dataset", shard: range) -> "Dataset":
    """One shard's images as a small dataset with absolute paths, so a worker anywhere finds them and names
    them (relative to the same root) exactly as the driver does."""
    import pandas as pd

    from .datasets import Dataset

    return Dataset(name=dataset.name, root=Path(dataset.root).absolute(),
                   image_paths=tuple(Path(dataset.image_paths[i]).absolute() for i in shard),
                   labels=pd.DataFrame(index=range(len(shard))))


def _cache_shard(recipe: dict, shard: "Dataset", target: str, batch_size: int, num_workers: int, on_error: str,
                 threads: int) -> int:
    """Ray task: one shard through the local path's own code, written atomically to ``target``."""
    import torch

    from .cache import _compute_shards
    from .progress import progress_bar

    torch.set_num_threads(threads)
    backbone = worker_backbone(recipe)
    path = Path(target)
    with progress_bar(total=len(shard), disable=True) as bar:
        _compute_shards(backbone, shard, path.parent, [range(len(shard))], [path.name], [0], batch_size,
                        num_workers, on_error, bar)
    return len(shard)


def worker_backbone(recipe: dict) -> "Backbone":
    """The backbone of ``recipe``, loaded once per worker process and checked to have the driver's sha256.

    The weights file is read at the driver's path (a shared folder); where it is missing, a CLIP name or a
    random architecture is loaded the ordinary way on this node. Either way the hash must match.
    """
    import warnings

    from .backbone import RANDOM_ARCHITECTURES, load_backbone

    key = (recipe["path"], recipe["sha256"], recipe["device"])
    if key in _BACKBONES:
        return _BACKBONES[key]
    import clip

    path = Path(recipe["path"])
    if path.is_file():
        spec = str(path)
    elif recipe["name"] in RANDOM_ARCHITECTURES or recipe["name"] in clip.available_models():
        spec = recipe["name"]
    else:
        raise BackboneError(f"backbone weights {path} are not visible on Ray node {socket.gethostname()}: put "
                            "them on a path every node sees (docs/CLUSTER.md)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone = load_backbone(spec, device=recipe["device"])
    if backbone.weights_sha256 != recipe["sha256"]:
        raise BackboneError(f"Ray node {socket.gethostname()} loaded backbone {spec} with sha256 "
                            f"{backbone.weights_sha256[:16]}..., not the driver's {recipe['sha256'][:16]}...: give "
                            "every node the same weights file (a shared path, see docs/CLUSTER.md)")
    _BACKBONES.clear()  # one model per worker process
    _BACKBONES[key] = backbone
    return backbone


# --- notebook jobs: one Ray task per job ---------------------------------------------------------------------

def job_resources(job: "Job") -> dict:
    """Ray resources of a notebook job, by kind.

    On a CUDA device the image-heavy notebooks (:data:`WHOLE_GPU_JOBS`) take a whole GPU and the others a
    share; the evaluation reserves one CPU per worker process when its ``n_jobs`` is a number; a cache job
    whose shards are Ray tasks themselves (``executor: ray``) only coordinates and reserves nothing.
    """
    from .batch import NOTEBOOKS

    parameters = job.parameters
    cuda = str(parameters.get("device", "cpu")).startswith("cuda")
    if job.notebook == NOTEBOOKS["cache"] and parameters.get("executor") == "ray":
        return {"num_cpus": 0}
    n_jobs = parameters.get("n_jobs")
    workers = n_jobs if job.notebook == NOTEBOOKS["evaluate"] and isinstance(n_jobs, int) else 1
    cpus = max(workers, job.threads)  # the kernel's pinned thread count (batch.execute_job sets it)
    whole = {NOTEBOOKS[kind] for kind in WHOLE_GPU_JOBS if kind in NOTEBOOKS}
    gpus = (1 if job.notebook in whole else GPU_SHARE) if cuda else 0
    return {"num_cpus": cpus, "num_gpus": gpus}


class RayJobPool:
    """The job pool of ``batch.run_jobs`` on Ray: ``submit`` starts a notebook job as a Ray task and returns a
    ``concurrent.futures.Future`` of its status record, which (as with the local pool) never raises."""

    def __init__(self, address: str | None = None) -> None:
        self.ray = connect(address)
        self._pending: list = []

    def __enter__(self) -> "RayJobPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None:  # the driver stops (an interrupt, an error): so does the cluster's work for it
            _cancel(self.ray, {ref: None for ref in self._pending})

    def submit(self, function: Callable[..., dict], job: "Job", *args: Any) -> futures.Future:
        """Run ``function(job, *args)`` as a Ray task with :func:`job_resources`; a lost worker is retried
        :data:`JOB_RETRIES` times, then reported as a failed job."""
        ref = _remote("run_job", _run_job).options(max_retries=JOB_RETRIES,
                                                   **job_resources(job)).remote(function, job, *args)
        self._pending.append(ref)
        result: futures.Future = futures.Future()

        def settle(done: futures.Future) -> None:
            self._pending.remove(ref)
            try:
                result.set_result(done.result())
            except Exception as error:  # noqa: BLE001 - a lost worker or node is this job's failure only
                result.set_result(_lost_job(job, error, self.ray))

        ref.future().add_done_callback(settle)
        return result


def _run_job(function: Callable[..., dict], job: "Job", *args: Any) -> dict:
    """Ray task: one notebook job. Its kernel inherits ``RAY_ADDRESS``, so a cache notebook with
    ``executor="ray"`` sends its shards to this same cluster."""
    import ray

    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    return function(job, *args)


def _lost_job(job: "Job", error: BaseException, ray: ModuleType) -> dict:
    """The status record of a job whose Ray task ended without a status (its worker lost, or the task could not
    run at all): failed, saying which; a rerun tries it again."""
    what = "could not run on Ray" if isinstance(error, ray.exceptions.RayTaskError) else \
        "lost the Ray worker running this notebook"
    return {"job": job.id, "notebook": job.notebook, "params_hash": job.params_hash, "state": "failed",
            "seconds": 0.0, "error": {"ename": type(error).__name__,
                                      "evalue": f"the job {what} ({error}); run the plan again to retry it"}}


def cluster_summary(ray: ModuleType | None = None) -> str:
    """One line on the Ray cluster this process is attached to: nodes, CPUs, GPUs."""
    ray = ray or require_ray()
    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return (f"Ray cluster: {nodes} node(s), {resources.get('CPU', 0):g} CPU(s), {resources.get('GPU', 0):g} "
            f"GPU(s)")

