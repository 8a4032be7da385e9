"""Provenance: what produced a result (backbone, prompts, dataset, seeds, package versions, git commit)."""
from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .._util.caveats import caveat_of

PACKAGES = ("indirect-core", "torch", "torchvision", "clip-anytorch", "pytorch-metric-learning", "faiss-cpu",
            "scikit-learn", "numpy", "pandas", "pillow")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape the numbers."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def thread_settings() -> dict[str, Any]:
    """The thread counts this process computes with: float results (fits, trained mappers) depend on them."""
    import os

    import torch

    return {"torch": torch.get_num_threads(),
            **{name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}


def git_state(folder: Path | None = None) -> dict[str, Any]:
    """The commit of the working tree and whether it had uncommitted changes (None outside git)."""
    cwd = folder or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def provenance(backbone: dict, dataset: dict, seeds: list[int], prompts: dict[str, list[str]] | None = None,
               **settings: Any) -> dict[str, Any]:
    """Everything needed to reproduce a result, as a JSON-ready dict."""
    record: dict[str, Any] = {}
    if caveat_of(backbone):
        record["WARNING"] = caveat_of(backbone)
    record.update({
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "backbone": backbone, "dataset": dataset, "seeds": list(seeds), "settings": settings,
        "prompts": prompts or {}, "packages": package_versions(), "threads": thread_settings(), "git": git_state(),
        "command": " ".join(sys.argv),
    })
    return record
