"""Notebook jobs: which notebook with which parameters, in which folder, after which jobs, on how many
threads; and what a job reserves on an engine that schedules by resources.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from .._util.errors import ConfigError
from .._util.validation import check_int


NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


NOTEBOOKS = {"cache": "01_cache_embeddings.ipynb", "fit": "02_fit_indirect.ipynb",
             "evaluate": "03_evaluate.ipynb", "attribution": "04_attribution.ipynb",
             "composed": "05_composed_retrieval.ipynb", "train_mapper": "06_train_mapper.ipynb"}


@dataclass(frozen=True)
class Job:
    """One notebook execution: which notebook, its parameters, its folder and the jobs it waits for."""

    id: str
    notebook: str
    parameters: dict
    depends_on: tuple[str, ...] = ()
    threads: int = 1
    """CPU threads of the job's kernel, the same in every engine: float results depend on it."""

    @property
    def params_hash(self) -> str:
        payload = json.dumps({"notebook": self.notebook, "parameters": self.parameters, "threads": self.threads},
                             sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def kind(self) -> str:
        """The job's kind, a key of :data:`NOTEBOOKS` (``cache``, ``fit``, ...)."""
        return next(kind for kind, notebook in NOTEBOOKS.items() if notebook == self.notebook)


@dataclass
class JobResult:
    """What happened to a job: succeeded, skipped (succeeded earlier), failed (with its error cell) or blocked."""

    job: Job
    state: str
    seconds: float = 0.0
    error: dict = field(default_factory=dict)


DEFAULT_THREADS = 1
"""CPU threads of every notebook kernel unless the plan's ``threads`` says otherwise (Ray's default for a task)."""


THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""Environment variables that set a kernel's thread pools (torch, faiss, numpy's BLAS)."""


def check_threads(value: Any) -> dict[str, int]:
    """The plan's ``threads``: one count for every job kind, or ``{kind: count}`` over :data:`NOTEBOOKS`'s kinds
    (the others keep :data:`DEFAULT_THREADS`); returned as a count per kind."""
    counts = value if isinstance(value, dict) else {kind: value for kind in NOTEBOOKS}
    unknown = set(counts) - set(NOTEBOOKS)
    if unknown:
        raise ConfigError(f"threads has unknown job kind(s) {sorted(unknown)}: use {sorted(NOTEBOOKS)}, or one "
                          "number for all, e.g. threads: 2")
    return {kind: check_int(f"threads.{kind}", counts.get(kind, DEFAULT_THREADS)) for kind in NOTEBOOKS}


GPU_SHARE = 0.25
"""GPUs of a notebook job that mostly embeds prompts on a CUDA device (fit, evaluate): four share a GPU."""


WHOLE_GPU_JOBS = ("cache", "attribution", "train_mapper")
"""Kinds of notebook job that take a whole GPU on a CUDA device."""


def job_resources(job: Job) -> dict:
    """What a job reserves on an engine that schedules by resources (Ray), by kind: its pinned thread count in
    CPUs (the evaluation at least one per worker process when its ``n_jobs`` is a number; a cache job whose
    shards are tasks of their own only coordinates and reserves none), and on a CUDA device a whole GPU for
    the image-heavy kinds (:data:`WHOLE_GPU_JOBS`) or a share for the others."""
    parameters = job.parameters
    if job.kind == "cache" and parameters.get("executor", "local") != "local":
        return {"num_cpus": 0}
    n_jobs = parameters.get("n_jobs")
    workers = n_jobs if job.kind == "evaluate" and isinstance(n_jobs, int) else 1
    cuda = str(parameters.get("device", "cpu")).startswith("cuda")
    gpus = (1 if job.kind in WHOLE_GPU_JOBS else GPU_SHARE) if cuda else 0
    return {"num_cpus": max(workers, job.threads), "num_gpus": gpus}


def previous_seconds(job: Job, run_dir: Path) -> float:
    """The notebook seconds of the job's earlier run in ``run_dir`` (its status file), 0 when unknown."""
    try:
        return float(json.loads((run_dir / job.id / "status.json").read_text()).get("seconds") or 0.0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0


def previous_success(job: Job, run_dir: Path) -> bool:
    """True when this job already succeeded in ``run_dir`` with exactly these parameters."""
    path = run_dir / job.id / "status.json"
    try:
        status = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return status.get("state") == "succeeded" and status.get("params_hash") == job.params_hash \
        and (run_dir / job.id / job.notebook).is_file()
