"""Files that ``torch.save`` writes: written atomically, loaded safely, and, when one cannot be read, why in words.

Loading is always ``weights_only=True`` (tensors, containers, numbers, strings) with the harmless types of
``HARMLESS_GLOBALS`` allowed too. A file that still fails is examined without unpickling anything: it is
*damaged* (empty, truncated, not written by ``torch.save``) or it *holds objects* of other types, which are not
loaded; callers turn that into their own error with what to do.
"""
from __future__ import annotations

import io
import pickletools
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import torch

from .atomic import atomic_path

_PATH_CLASSES: dict[str, type] = {"PosixPath": PurePosixPath, "PurePosixPath": PurePosixPath,
                                  "WindowsPath": PureWindowsPath, "PureWindowsPath": PureWindowsPath}
HARMLESS_GLOBALS: tuple[tuple[type, str], ...] = tuple(
    (cls, f"{module}.{name}") for module in ("pathlib", "pathlib._local") for name, cls in _PATH_CLASSES.items())
"""Globals a checkpoint may name besides torch's own: pathlib's path classes (``pathlib._local`` is where Python
3.13 pickles them), each loaded as a pure path, which never touches the file system. SEARLE's
``save_checkpoint`` stores its ``training_path`` as a ``pathlib.Path``."""
_HARMLESS_NAMES = frozenset(name for _, name in HARMLESS_GLOBALS)
_LEGACY_PICKLES = 5  # torch.save before 1.6: magic number, protocol, system info, the object, storage keys
_UNSUPPORTED = re.compile(r"Unsupported global: GLOBAL (\S+)")

DAMAGED, OBJECTS, OTHER = "damaged", "objects", "other"


@dataclass(frozen=True)
class ReadFailure:
    """Why torch could not read a file: ``kind`` (DAMAGED, OBJECTS or OTHER) and ``reason``, which continues a
    sentence that starts with the file's name ("is empty (0 bytes)")."""

    kind: str
    reason: str


def save_torch_file(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (temp file + rename), so a reader never sees half a file. Saved
    through a buffer: torch.save would name the archive after the temp file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


def load_weights(path: str | Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with ``HARMLESS_GLOBALS`` allowed."""
    with torch.serialization.safe_globals(list(HARMLESS_GLOBALS)):
        return torch.load(path, map_location="cpu", weights_only=True)


def read_failure(path: str | Path, error: BaseException) -> ReadFailure:
    """Why loading ``path`` raised ``error``: the file examined as bytes, zip members and pickle opcodes only."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return ReadFailure(DAMAGED, "is empty (0 bytes)")
    if zipfile.is_zipfile(path):
        if not _zip_intact(path):
            return ReadFailure(DAMAGED, f"is damaged: a zip archive ({size} bytes) whose contents fail their "
                                        "checksums")
        try:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # noqa: BLE001 - e.g. a TorchScript archive or another zip
            names = []
        objects = [name for name in names if name not in _HARMLESS_NAMES]
    else:
        if not _legacy_pickles_intact(path):
            return ReadFailure(DAMAGED, f"is damaged: its {size} bytes are not a complete file written by "
                                        "torch.save (truncated, overwritten, or never one)")
        objects = _UNSUPPORTED.findall(str(error))
    if objects:
        return ReadFailure(OBJECTS, f"holds Python objects of type {', '.join(sorted(set(objects)))}, which are "
                                    "not loaded (only tensors, containers, numbers, strings and file paths are)")
    return ReadFailure(OTHER, f"cannot be read by torch.load(weights_only=True) ({error_summary(error)})")


def error_summary(error: BaseException) -> str:
    """The error's type and first line, without torch's advice on ``weights_only`` (never repeated to users)."""
    first = str(error).strip().split("\n", 1)[0]
    return type(error).__name__ + (f": {first}" if first and "weights_only" not in first else "")


def _zip_intact(path: Path) -> bool:
    """Whether every member of the zip archive reads back with its checksum."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except Exception:  # noqa: BLE001 - any failure to read the archive means the same
        return False


def _legacy_pickles_intact(path: Path) -> bool:
    """Whether the file starts with the pickles of torch's pre-zip format, each complete up to its STOP."""
    try:
        with path.open("rb") as stream:
            for _ in range(_LEGACY_PICKLES):
                for _opcode in pickletools.genops(stream):
                    pass
    except Exception:  # noqa: BLE001 - an unknown opcode, a truncated argument or the end of the file
        return False
    return True
