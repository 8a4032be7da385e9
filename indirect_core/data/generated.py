"""Generated datasets: build a folder atomically (temp folder + rename) and reuse it only when it is the same.

The embedded generators (synthetic-shapes, synthetic-shapes-cir) write everything into a temp folder beside the
target, write ``generation.json`` (their parameters, the completeness marker) last, and rename the folder into
place. A run killed at any moment leaves no half-written dataset; a folder made with other parameters is refused.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from indirect_core._util.errors import ConfigError, DatasetError

GENERATION_FILE = "generation.json"
"""The completeness marker: the generation parameters, written last."""


def read_generation(root: Path) -> dict | None:
    """The generation.json of a complete dataset at `root`, or None when there is none."""
    path = Path(root) / GENERATION_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path} ({exc}): delete the folder {root} so it is regenerated") from exc


def _temp_prefix(root: Path) -> str:
    return f".{root.name}.tmp-"


def remove_stale_temps(root: Path) -> None:
    """Delete temp folders left beside `root` by killed runs (their process id is no longer alive)."""
    for candidate in root.parent.glob(_temp_prefix(root) + "*"):
        pid_text = candidate.name[len(_temp_prefix(root)):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(candidate, ignore_errors=True)
        except PermissionError:
            pass  # alive, owned by someone else


def check_existing(root: Path, wanted: dict, kind: str) -> bool:
    """True when `root` already holds this exact `kind` dataset; raises when it holds something else."""
    found = read_generation(root)
    if found is None:
        raise ConfigError(
            f"folder {root} exists but holds no complete {kind} dataset (no {GENERATION_FILE}): "
            f"delete it or pass another root"
        )
    if found != wanted:
        differing = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
        details = ", ".join(f"{k}={found.get(k)!r} (wanted {wanted.get(k)!r})" for k in differing)
        raise ConfigError(
            f"{root} holds a {kind} dataset generated with other parameters: {details}; "
            f"delete the folder {root} or choose another root"
        )
    return True


def generate_folder(root: Path, wanted: dict, write: Callable[[Path], None], kind: str) -> Path:
    """Make `root` hold the dataset described by `wanted`: reuse it if it already does, else call
    ``write(temp_folder)``, add generation.json and rename the temp folder onto `root` (atomic)."""
    root = Path(root).absolute()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"root {root} is a file, not a folder: pass a folder path as root")
    if root.is_dir() and any(root.iterdir()) and check_existing(root, wanted, kind):
        return root

    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(root)
    temp = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(root)}{os.getpid()}-", dir=root.parent))
    try:
        write(temp)
        # generation.json is the completeness marker: written last, inside the temp folder.
        (temp / GENERATION_FILE).write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        try:
            os.rename(temp, root)
        except OSError:
            # Another process finished first: accept its result if it is the same dataset.
            if root.is_dir() and check_existing(root, wanted, kind):
                shutil.rmtree(temp, ignore_errors=True)
                return root
            raise
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return root
