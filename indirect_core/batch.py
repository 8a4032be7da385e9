"""Batch runs: a YAML plan expanded into notebook jobs, executed with papermill into a run folder.

Jobs run in parallel processes when independent; a failing notebook is recorded with its error cell and
only blocks the jobs that need its output; a job that already succeeded with the same parameters is skipped,
so re-running a killed batch completes only what is missing.
"""
from __future__ import annotations

import concurrent.futures as futures
import contextlib
import dataclasses
import hashlib
import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from .atomic import write_json_atomic
from .errors import ConfigError, IndirectError
from .models import MODELS
from .study import INDIRECT_KEYS
from .naming import slug
from .notebook_execution import execute_notebook, render_html
from .progress import PROGRESS_ENV
from .engines import check_engine_name, get_engine
from .composed.plan import check_section as check_composed, composed_jobs
from .notions import PROMPT_WORDS
from .parameters import (ATTRIBUTION_METHODS, check_backbone, check_choice, check_dataset, check_dict,
                         check_fraction, check_models, check_notions, check_positive_int, dataset_root,
                         notion_parameter, resolve_word_files)

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = {"cache": "01_cache_embeddings.ipynb", "fit": "02_fit_indirect.ipynb",
             "evaluate": "03_evaluate.ipynb", "attribution": "04_attribution.ipynb",
             "composed": "05_composed_retrieval.ipynb", "train_mapper": "06_train_mapper.ipynb"}
PLAN_KEYS = {"name", "datasets", "backbones", "models", "seeds", "n_components", "device", "batch_size",
             "num_workers", "attribution", "evaluation", "model_options", "sweep", "on_error", "prompt_words",
             "executor", "composed", "include", "threads"}
SWEEP_KEYS = {"n_components", "n_prompts"}
EVALUATION_KEYS = {"n_queries", "top_k", "seed", "n_jobs"}
ATTRIBUTION_KEYS = {"method", "samples", "noise", "image_ids", "window", "seed"}


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


def load_plan(path: str | Path) -> dict:
    """Read and validate a plan; every dataset, notion, model and number is checked before anything runs."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"plan file {path} does not exist: see plans/demo.yaml for an example")
    try:
        plan = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"plan file {path} is not valid YAML: {error}") from None
    if not isinstance(plan, dict):
        raise ConfigError(f"plan file {path} must be a mapping with keys such as datasets, backbones, models")
    unknown = set(plan) - PLAN_KEYS
    if unknown:
        raise ConfigError(f"plan {path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(PLAN_KEYS)}")
    plan.setdefault("name", path.stem)
    plan["composed"] = _included_composed(plan, path)
    datasets = plan.setdefault("datasets", {} if plan["composed"] else None)
    if not isinstance(datasets, dict) or not (datasets or plan["composed"]):
        raise ConfigError(f"plan {path}: 'datasets' must map dataset names to settings, e.g. "
                          "{synthetic-shapes: {notions: all}} (or give a 'composed' section)")
    for name, settings in datasets.items():
        check_dataset(name)
        settings = datasets[name] = check_dict(f"datasets.{name}", settings)
        if "notions" in settings:  # own notions: word files (relative to the plan) read into their word lists
            settings["notions"] = resolve_word_files(settings["notions"], path.parent)
        check_notions(name, settings.get("notions", "all"))
        check_dict(f"datasets.{name}.options", settings.get("options"))
        if settings.get("generate") is not None:
            check_choice(f"datasets.{name}.generate", settings["generate"], GENERATORS)
            if not settings.get("root"):
                raise ConfigError(f"plan {path}: datasets.{name}.generate needs a root to write it to")
    plan["backbones"] = [check_backbone(b) for b in plan.get("backbones", ["auto"])]
    plan["models"] = check_models(plan.get("models", list(MODELS)))
    plan["seeds"] = check_positive_int("seeds", plan.get("seeds", 5))
    plan["n_components"] = check_positive_int("n_components", plan.get("n_components", 128))
    plan["batch_size"] = check_positive_int("batch_size", plan.get("batch_size", 64))
    plan["num_workers"] = check_positive_int("num_workers", plan.get("num_workers", 1), minimum=0)
    plan["device"] = plan.get("device", "cpu")
    plan["executor"] = check_engine_name(plan.get("executor", "local"))  # where the cache notebooks' shards run
    plan["on_error"] = check_choice("on_error", plan.get("on_error", "raise"), ["raise", "skip"])
    plan["prompt_words"] = check_choice("prompt_words", plan.get("prompt_words", "all"), PROMPT_WORDS)
    plan["threads"] = check_threads(plan.get("threads", DEFAULT_THREADS))
    plan["model_options"] = check_dict("model_options", plan.get("model_options"))
    plan["evaluation"] = check_dict("evaluation", plan.get("evaluation"))
    for section, allowed in (("evaluation", EVALUATION_KEYS), ("attribution", ATTRIBUTION_KEYS)):
        unknown = set(plan[section] if section == "evaluation" else plan.get(section) or {}) - allowed
        if unknown:
            raise ConfigError(f"plan {path}: unknown {section} key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    sweep = plan["sweep"] = check_dict("sweep", plan.get("sweep"))
    if sweep:
        if len(sweep) != 1 or set(sweep) - SWEEP_KEYS:
            raise ConfigError(f"plan {path}: sweep must have exactly one of {sorted(SWEEP_KEYS)}, got {sorted(sweep)}")
        (key, values), = sweep.items()
        if not isinstance(values, list) or not values:
            raise ConfigError(f"plan {path}: sweep.{key} must be a non-empty list, e.g. [2, 4, 8]")
        for value in values:
            check_positive_int(f"sweep.{key}", value)
    plan["composed"] = check_composed(plan["composed"], path, plan["backbones"])
    attribution = plan["attribution"] = check_dict("attribution", plan.get("attribution", {}))
    if attribution:
        if attribution.get("method", "smoothgrad") not in ATTRIBUTION_METHODS:
            raise ConfigError(f"plan {path}: attribution.method={attribution.get('method')!r} must be one of "
                              f"{list(ATTRIBUTION_METHODS)}")
        check_positive_int("attribution.samples", attribution.get("samples", 25))
        check_fraction("attribution.noise", attribution.get("noise", 0.15))
    return plan


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
    return {kind: check_positive_int(f"threads.{kind}", counts.get(kind, DEFAULT_THREADS)) for kind in NOTEBOOKS}


def _included_composed(plan: dict, path: Path) -> dict:
    """The plan's ``composed`` section, or that of the one plan it includes (``include: [other.yaml]``, paths
    relative to the plan): e.g. the demo plan runs plans/composed-demo.yaml's composed retrieval in its run."""
    included = plan.pop("include", None)
    if not included:
        return plan.get("composed") or {}
    included = [included] if isinstance(included, str) else included
    if not isinstance(included, list) or len(included) != 1 or plan.get("composed"):
        raise ConfigError(f"plan {path}: include must name one plan whose composed section joins this run "
                          f"(and the plan has no composed section of its own), got include={included!r}")
    other = (path.parent / included[0]).resolve()
    raw = yaml.safe_load(other.read_text()) if other.is_file() else None
    if not isinstance(raw, dict) or not raw.get("composed"):
        raise ConfigError(f"plan {path}: include {included[0]!r} must be a plan file with a composed section "
                          f"(looked at {other})")
    section = dict(raw["composed"])
    section.setdefault("backbones", raw.get("backbones", ["auto"]))
    # paths inside the included section are relative to its own plan file
    for key in ("mappers",):
        for backbone, paths in (section.get(key) or {}).items():
            section[key][backbone] = {m: str((other.parent / p).resolve()) for m, p in (paths or {}).items()}
    for settings in (section.get("benchmarks") or {}).values():
        if isinstance(settings, dict) and settings.get("root"):
            settings["root"] = str((other.parent / settings["root"]).resolve())
    return section


def plan_jobs(plan: dict, run_dir: Path, data_dir: Path | None = None, cache_dir: Path | None = None) -> list[Job]:
    """Expand a plan into jobs: per dataset × backbone a cache job, a fit job per notion, one evaluation
    job and (if configured) one attribution job."""
    data_dir = Path(data_dir or "data").resolve()
    cache_dir = Path(cache_dir or data_dir / "cache").resolve()
    jobs: list[Job] = []
    for dataset, settings in plan["datasets"].items():
        chosen = check_notions(dataset, settings.get("notions", "all"))
        notions = [n.name for n in chosen]
        specs = [notion_parameter(n) for n in chosen]  # names, or the spec of a notion of your own
        options = settings.get("options") or {}
        for backbone in plan["backbones"]:
            prefix = f"{dataset}/{slug(backbone)}"
            common = {"dataset": dataset, "dataset_options": options,
                      "data_root": dataset_root(settings.get("root"), data_dir),
                      "backbone": backbone, "cache_dir": str(cache_dir), "device": plan["device"],
                      "on_error": plan["on_error"]}
            if settings.get("root") is None:
                common.pop("data_root")
            cache_id = f"{prefix}/01_cache"
            jobs.append(Job(cache_id, NOTEBOOKS["cache"], {
                **common, "batch_size": plan["batch_size"], "num_workers": plan["num_workers"],
                **({"executor": plan["executor"]} if plan.get("executor", "local") != "local" else {}),
                **({"notions": specs} if settings.get("notions", "all") != "all" else {}),
                "output_dir": str(run_dir / cache_id)}))
            # Notebooks 02 and 04 fit exactly the space the evaluation fits in its first repetition.
            model = next((m for m in plan["models"] if m in INDIRECT_KEYS), INDIRECT_KEYS[0])
            space = {"model": model, "model_options": plan["model_options"].get(model, {}),
                     "n_components": plan["n_components"], "seed": 0, "prompt_words": plan["prompt_words"]}
            fit_ids = {}
            for notion, spec in zip(notions, specs):
                fit_id = fit_ids[notion] = f"{prefix}/02_fit-{slug(notion)}"
                own = {} if isinstance(spec, str) else {k: spec[k] for k in ("template", "words", "label_column")}
                jobs.append(Job(fit_id, NOTEBOOKS["fit"], {
                    **common, "notion": notion, **own, **space, "output_dir": str(run_dir / fit_id)},
                    depends_on=(cache_id,)))
            evaluation = {**common, "notions": specs, "models": plan["models"], "repetitions": plan["seeds"],
                          "n_components": plan["n_components"], "model_options": plan["model_options"],
                          "prompt_words": plan["prompt_words"], "batch_size": plan["batch_size"],
                          "num_workers": plan["num_workers"], **plan["evaluation"]}
            sweep = [(None, None)] if not plan.get("sweep") else \
                [(key, value) for key, values in plan["sweep"].items() for value in values]
            for key, value in sweep:
                eval_id = f"{prefix}/03_evaluate" + (f"-{key}-{value}" if key else "")
                jobs.append(Job(eval_id, NOTEBOOKS["evaluate"], {
                    **evaluation, **({key: value} if key else {}), "output_dir": str(run_dir / eval_id)},
                    depends_on=(cache_id,)))
            if plan["attribution"]:
                attribution_id = f"{prefix}/04_attribution"
                jobs.append(Job(attribution_id, NOTEBOOKS["attribution"], {
                    **common, "notions": specs, **space, **plan["attribution"],
                    "projections": {n: str(run_dir / fit_ids[n] / "projection.pt") for n in notions},
                    "output_dir": str(run_dir / attribution_id)}, depends_on=tuple(fit_ids.values())))
    jobs += composed_jobs(plan, run_dir, cache_dir, plan["device"])
    threads = plan.get("threads") or check_threads(DEFAULT_THREADS)
    return [dataclasses.replace(job, threads=threads[job.kind]) for job in jobs]


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Point file descriptor 2 of this process (and so of the kernels it starts) at ``path`` for the block."""
    import os

    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def execute_job(job: Job, notebooks_dir: str, run_dir: str, data_dir: str | None = None) -> dict:
    """Run one notebook with papermill (in a worker process); return a status record, never raise.

    The kernel runs in the job's folder; ``data_dir`` (absolute) tells it where datasets live.
    """
    import os

    import papermill  # imported here: the worker process pays for it, not `--help`

    if data_dir:
        os.environ["INDIRECT_DATA_DIR"] = str(data_dir)  # inherited by the kernel process
    os.environ[PROGRESS_ENV] = "final"  # stored notebook outputs keep one line per progress bar
    for name in THREAD_ENV:  # the same thread count whichever engine runs the job (Ray sets its own)
        os.environ[name] = str(job.threads)

    folder = Path(run_dir) / job.id
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    status: dict[str, Any] = {"job": job.id, "notebook": job.notebook, "params_hash": job.params_hash,
                              "parameters": job.parameters, "threads": job.threads, "started": started}
    try:
        # The kernel's own stderr (its log lines, C libraries' messages) goes to the job's kernel.log, not to
        # the terminal that shows the batch's progress.
        with _stderr_to(folder / "kernel.log"):
            status["kernel_starts"] = execute_notebook(Path(notebooks_dir) / job.notebook,
                                                       folder / job.notebook, parameters=job.parameters, cwd=folder)
        status["state"] = "succeeded"
    except papermill.PapermillExecutionError as error:
        status["state"] = "failed"
        status["error"] = {"cell_index": error.cell_index, "execution_count": error.exec_count,
                           "ename": error.ename, "evalue": error.evalue,
                           "source": error.source[-2000:]}
    except Exception as error:  # noqa: BLE001 - a broken kernel or notebook must not stop the batch
        status["state"] = "failed"
        status["error"] = {"ename": type(error).__name__, "evalue": str(error),
                           "traceback": traceback.format_exc()[-4000:]}
    status["seconds"] = round(time.time() - started, 2)
    if (folder / job.notebook).is_file():
        try:  # the page a reader without Jupyter opens; a notebook that cannot be rendered still counts
            render_html(folder / job.notebook)
        except Exception as error:  # noqa: BLE001
            status["html_error"] = f"{type(error).__name__}: {error}"
    write_json_atomic(folder / "status.json", status)
    return status


def previous_success(job: Job, run_dir: Path) -> bool:
    """True when this job already succeeded in ``run_dir`` with exactly these parameters."""
    path = run_dir / job.id / "status.json"
    try:
        status = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return status.get("state") == "succeeded" and status.get("params_hash") == job.params_hash \
        and (run_dir / job.id / job.notebook).is_file()


def run_jobs(jobs: list[Job], run_dir: Path, n_jobs: int = 1, notebooks_dir: Path = NOTEBOOKS_DIR,
             data_dir: Path | None = None, log: Callable[[str], None] = print, executor: str = "local",
             address: str | None = None) -> list[JobResult]:
    """Execute jobs respecting dependencies, up to ``n_jobs`` at once, skipping earlier successes.

    ``executor="ray"`` runs each job as a Ray task (on the cluster at ``address``, see ``engines.ray.connect``).
    """
    run_dir = Path(run_dir).resolve()
    results: dict[str, JobResult] = {}
    pending = {job.id: job for job in jobs}
    for job in jobs:
        if previous_success(job, run_dir):
            results[job.id] = JobResult(job, "skipped")
            pending.pop(job.id)
            log(f"[skip] {job.id} (succeeded earlier)")
    started = time.time()
    with get_engine(executor, address).job_pool(n_jobs) as pool:
        running: dict[futures.Future, Job] = {}
        while pending or running:
            for job_id, job in list(pending.items()):
                states = [results[d].state if d in results else None for d in job.depends_on]
                if any(s in ("failed", "blocked") for s in states):
                    results[job_id] = JobResult(job, "blocked", error={"evalue": "a job it depends on failed"})
                    pending.pop(job_id)
                    log(f"[blocked] {job_id}")
                elif all(s in ("succeeded", "skipped") for s in states) and len(running) < max(1, n_jobs):
                    running[pool.submit(execute_job, job, str(notebooks_dir), str(run_dir),
                                        str(Path(data_dir or "data").resolve()), resources=job_resources(job))] = job
                    pending.pop(job_id)
                    log(f"[start] {job_id}  " + _job_progress(results, len(jobs), running.values(), started))
            if not running:
                if pending:  # nothing runs and nothing can start: a dependency names no job of this plan
                    raise ConfigError(f"jobs {sorted(pending)} wait for jobs that are not in the plan")
                continue
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                try:
                    status = future.result()
                except Exception as error:  # noqa: BLE001 - a lost worker or node is this job's failure only
                    status = _unfinished_job(job, error)
                results[job.id] = JobResult(job, status["state"], status.get("seconds", 0.0),
                                            status.get("error", {}))
                message = f"[{status['state']}] {job.id} ({status.get('seconds', 0):.0f} s)"
                if status["state"] == "failed":
                    error = status["error"]
                    message += (f": {error.get('ename')}: {error.get('evalue')} "
                                f"(cell {error.get('cell_index', '?')}, see {run_dir / job.id / job.notebook})")
                log(message + "  " + _job_progress(results, len(jobs), running.values(), started))
    return [results[job.id] for job in jobs]


def _unfinished_job(job: Job, error: BaseException) -> dict:
    """The status record of a job that ended without one (its worker process or node was lost, or the engine
    could not run it): failed, saying why; a rerun tries it again."""
    return {"job": job.id, "notebook": job.notebook, "params_hash": job.params_hash, "state": "failed",
            "seconds": 0.0, "error": {"ename": type(error).__name__,
                                      "evalue": f"the job ended without a status, its worker lost or never started "
                                                f"({error}); run the plan again to retry it"}}


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


def _job_progress(results: dict[str, JobResult], total: int, running: Any, started: float) -> str:
    """Job-level progress for the terminal: jobs done of all, the running ones, time since the start."""
    done = sum(r.state in ("succeeded", "skipped") for r in results.values())
    failed = sum(r.state in ("failed", "blocked") for r in results.values())
    names = ", ".join(job.id.rsplit("/", 1)[-1] for job in running) or "none"
    minutes, seconds = divmod(int(time.time() - started), 60)
    return (f"[{done}/{total} done" + (f", {failed} failed" if failed else "") +
            f"; running: {names}; {minutes}:{seconds:02d} elapsed]")


def run_plan(plan_path: str | Path, run_dir: str | Path | None = None, n_jobs: int = 1,
             data_dir: str | Path | None = None, cache_dir: str | Path | None = None,
             figures_dir: str | Path | None = "figures", log: Callable[[str], None] = print,
             executor: str = "local", address: str | None = None) -> Path:
    """Validate the plan, run its notebooks into ``runs/<plan name>`` (or ``run_dir``), write the index.

    ``executor="ray"``: every notebook is a Ray task, on the cluster at ``address`` (or ``$RAY_ADDRESS``).
    """
    from .random_weights import RANDOM_WEIGHTS_MARKER
    from .run_index import used_random_weights, write_index

    plan = load_plan(plan_path)
    engine = get_engine(executor, address)  # before anything is written: Ray missing, or its cluster unreachable
    run_dir = Path(run_dir or Path("runs") / plan["name"]).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "plan.json", plan)
    jobs = plan_jobs(plan, run_dir, data_dir=data_dir, cache_dir=cache_dir)
    log(f"plan {plan['name']}: {len(jobs)} notebook job(s) into {run_dir}")
    for dataset, settings in plan["datasets"].items():
        if settings.get("generate"):  # e.g. the example collection of plans/my-photos.yaml, written once
            log(f"{dataset}: {settings['generate']} in {_generate(settings, data_dir)}")
    if engine.parallel:
        log(f"engine: {engine.describe()}")
    results = run_jobs(jobs, run_dir, n_jobs=n_jobs, data_dir=data_dir, log=log, executor=executor, address=address)
    index = write_index(run_dir, plan, results, figures_dir=Path(figures_dir) if figures_dir else None)
    failed = [r for r in results if r.state in ("failed", "blocked")]
    log(f"report: {index}" + (f" — {len(failed)} job(s) failed or blocked" if failed else ""))
    if used_random_weights(run_dir):
        rule = "!" * 78
        log(f"{rule}\n!! {RANDOM_WEIGHTS_MARKER.upper()}\n!! At least one notebook ran with a randomly "
            f"initialised CLIP (random-tiny, or 'auto' found no weights).\n!! Put the OpenAI weights (e.g. ViT-B-32.pt) in "
            f"~/.cache/clip or set INDIRECT_CLIP_CHECKPOINT, then re-run.\n{rule}")
    if failed:
        raise BatchFailed(f"{len(failed)} of {len(results)} notebook job(s) failed or were blocked: "
                          + ", ".join(r.job.id for r in failed) + f". See {index}")
    return run_dir


GENERATORS = ("example-collection",)
"""What a dataset's ``generate`` key may ask for before the run: the example of your own collection."""


def _generate(settings: dict, data_dir: str | Path | None) -> Path:
    """Write the dataset a plan asks to be generated at its root (once; reused when it is already there)."""
    from .example_collection import write_example_collection

    return write_example_collection(dataset_root(settings.get("root"), data_dir))


CHECK_LISTED = 20
"""``--check`` lists at most this many left-out files per dataset."""


def check_plan(plan_path: str | Path, run_dir: str | Path | None = None, data_dir: str | Path | None = None,
               cache_dir: str | Path | None = None) -> tuple[str, bool]:
    """What a plan would run and which data or weights are missing, without running or downloading anything.

    Every image of a dataset is decoded, so unreadable files are counted apart from the readable images and
    listed (with the files the folder scan passed over); with ``on_error: raise`` they make the plan not ready.

    Returns the report text and whether everything needed is present. An invalid plan raises ConfigError.
    """
    import os

    from .backbone import RANDOM_ARCHITECTURES, clip_download_root
    from .datasets import SYNTHETIC_SHAPES, load_dataset
    from .errors import DatasetError
    from .images import find_unreadable

    plan = load_plan(plan_path)
    run_dir = Path(run_dir or Path("runs") / plan["name"]).resolve()
    jobs = plan_jobs(plan, run_dir, data_dir=data_dir, cache_dir=cache_dir)
    lines = [f"plan {plan['name']}: valid; {len(jobs)} notebook job(s) into {run_dir}"]
    for job in jobs:
        state = "done" if previous_success(job, run_dir) else "to run"
        lines.append(f"  [{state}] {job.id}  ({job.notebook})")
    ready = True
    if plan["datasets"]:
        lines.append("data:")
    if data_dir is not None:
        os.environ["INDIRECT_DATA_DIR"] = str(Path(data_dir).resolve())
    for dataset, settings in plan["datasets"].items():
        notions = check_notions(dataset, settings.get("notions", "all"))
        described = f"{dataset} ({len(notions)} notion(s): {', '.join(n.name for n in notions)})"
        if dataset == SYNTHETIC_SHAPES or settings.get("generate"):
            lines.append(f"  [ok] {described}: generated on first use")
            continue
        try:
            data = load_dataset(dataset, root=dataset_root(settings.get("root"), data_dir),
                                **(settings.get("options") or {}))
        except DatasetError as missing:
            ready = False
            lines.append(f"  [MISSING] {described}:\n      " + str(missing).replace("\n", "\n      "))
            continue
        unreadable = find_unreadable(data.image_paths, progress=True)
        relative = data.file_list()
        left_out = {**data.passed_over, **{relative[i]: why for i, why in unreadable.items()}}
        blocking = bool(unreadable) and plan["on_error"] == "raise"
        ready &= not blocking
        state = "PROBLEM" if blocking else "ok"
        lines.append(f"  [{state}] {described}: {len(data) - len(unreadable)} readable images in {data.root}" +
                     (f"; {len(unreadable)} unreadable (set on_error: skip to leave them out, or fix them)"
                      if blocking else ""))
        lines += [f"      left out {path}: {why}" for path, why in list(left_out.items())[:CHECK_LISTED]]
        if len(left_out) > CHECK_LISTED:
            lines.append(f"      ... and {len(left_out) - CHECK_LISTED} more")
    if plan["composed"]:
        from .composed.plan import check_data as check_composed_data

        text, present = check_composed_data(plan["composed"])
        lines.append(text)
        ready &= present
    lines.append("backbones:")
    composed_backbones = (plan["composed"] or {}).get("backbones", [])
    for backbone in dict.fromkeys([*(plan["backbones"] if plan["datasets"] else []), *composed_backbones]):
        if backbone in RANDOM_ARCHITECTURES or backbone == "auto":
            note = "random weights (pipeline check only)" if backbone != "auto" else \
                "ViT-B/32 if available, else random-tiny"
            lines.append(f"  [ok] {backbone}: {note}")
            continue
        import clip

        if backbone in clip.available_models():
            target = clip_download_root() / os.path.basename(clip.clip._MODELS[backbone])
            present = target.is_file()
        else:
            target = Path(backbone).expanduser()
            present = target.is_file()
        ready &= present
        lines.append(f"  [{'ok' if present else 'MISSING'}] {backbone}: "
                     + (f"{target}" if present else f"weights not at {target}; put the file there (see README)"))
    return "\n".join(lines), ready


class BatchFailed(IndirectError):
    """Some notebooks of a batch failed; the others completed and the index lists what happened."""
