"""The batch layer: plans → notebook jobs, run on an engine (local processes or Ray), resumable, with the run's
index page; the declaration of every notebook parameter (``parameters``), which notebooks, plans and the command
line read.

May import: ``report`` and everything below it.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, submodules=[
    "composed_jobs", "jobs", "notebook_execution", "parameters", "plans", "runner"], submod_attrs={
        "jobs": ["NOTEBOOKS", "NOTEBOOKS_DIR", "Job", "JobResult", "job_resources", "previous_success"],
        "plans": ["check_plan", "load_plan", "plan_jobs"],
        "runner": ["BatchFailed", "execute_job", "run_jobs", "run_plan"]})
