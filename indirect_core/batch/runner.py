"""Batch runs: a YAML plan expanded into notebook jobs, executed with papermill into a run folder.

Jobs run in parallel processes when independent; a failing notebook is recorded with its error cell and
only blocks the jobs that need its output; a job that already succeeded with the same parameters is skipped,
so re-running a killed batch completes only what is missing.
"""
from __future__ import annotations

import concurrent.futures as futures
import contextlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator


from .._util.atomic import write_json_atomic
from .._util.errors import ConfigError, IndirectError
from .notebook_execution import execute_notebook, render_html
from .._util.progress import PROGRESS_ENV
from ..engines import get_engine
from .jobs import NOTEBOOKS_DIR, THREAD_ENV, Job, JobResult, job_resources, previous_seconds, previous_success
from .plans import generate_dataset, load_plan, plan_jobs


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
            results[job.id] = JobResult(job, "skipped", previous_seconds(job, run_dir))
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
    from .._util.caveats import RANDOM_WEIGHTS_MARKER
    from ..report.run_index import run_caveat, write_index

    plan = load_plan(plan_path)
    engine = get_engine(executor, address)  # before anything is written: Ray missing, or its cluster unreachable
    run_dir = Path(run_dir or Path("runs") / plan["name"]).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "plan.json", plan)
    jobs = plan_jobs(plan, run_dir, data_dir=data_dir, cache_dir=cache_dir)
    log(f"plan {plan['name']}: {len(jobs)} notebook job(s) into {run_dir}")
    for dataset, settings in plan["datasets"].items():
        if settings.get("generate"):  # e.g. the example collection of plans/my-photos.yaml, written once
            log(f"{dataset}: {settings['generate']} in {generate_dataset(settings, data_dir)}")
    if engine.parallel:
        log(f"engine: {engine.describe()}")
    results = run_jobs(jobs, run_dir, n_jobs=n_jobs, data_dir=data_dir, log=log, executor=executor, address=address)
    index = write_index(run_dir, plan, results, figures_dir=Path(figures_dir) if figures_dir else None)
    failed = [r for r in results if r.state in ("failed", "blocked")]
    log(f"report: {index}" + (f" — {len(failed)} job(s) failed or blocked" if failed else ""))
    caveat = run_caveat(run_dir)
    if caveat:
        rule = "!" * 78
        what = ("a randomly initialised CLIP (random-tiny)" if caveat == RANDOM_WEIGHTS_MARKER else
                "shapes-clip, the small CLIP trained here on synthetic shapes ('auto' found no OpenAI weights)")
        log(f"{rule}\n!! {caveat.upper()}\n!! At least one notebook ran with {what}.\n!! For the paper's numbers "
            f"put the OpenAI weights (e.g. ViT-B-32.pt) in ~/.cache/clip or set INDIRECT_CLIP_CHECKPOINT, then "
            f"re-run.\n{rule}")
    if failed:
        raise BatchFailed(f"{len(failed)} of {len(results)} notebook job(s) failed or were blocked: "
                          + ", ".join(r.job.id for r in failed) + f". See {index}")
    return run_dir


class BatchFailed(IndirectError):
    """Some notebooks of a batch failed; the others completed and the index lists what happened."""
