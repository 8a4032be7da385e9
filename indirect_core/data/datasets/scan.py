"""Walking a user's folder: every file under it is either taken as an image or listed with why it is not.

Files are taken by extension (``IMAGE_EXTENSIONS``, case-insensitive); whether they decode is the embedding's
business (unreadable ones are listed by the cache). Hidden files and folders, other extensions and things
that are not regular files are listed. Symlinked files are followed and count as the file they point to: a
second path to an already taken file (a symlink, or two symlinks to one target) is listed as the same file.
Symlinked folders are not followed (a link back up the tree would never end); they are listed too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from indirect_core.data.datasets.core import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Scan:
    """What a walk found: the image files (in walk order) and every other entry with its reason."""

    images: tuple[Path, ...]
    passed_over: dict[str, str]
    """Path relative to the root (posix; folders end in "/") -> why it was not taken."""


def scan_folder(root: Path) -> Scan:
    """Walk ``root`` (already absolute) in sorted order; see the module docstring for what is taken."""
    images: list[Path] = []
    passed: dict[str, str] = {}
    seen: dict[Path, str] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        kept_dirs = []
        for name in sorted(dirs):
            relative = (here / name).relative_to(root).as_posix() + "/"
            if name.startswith("."):
                passed[relative] = "hidden folder (not scanned)"
            elif (here / name).is_symlink():
                passed[relative] = (f"symlink to the folder {(here / name).resolve()} (not followed): add that "
                                    "folder itself")
            else:
                kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in sorted(files):
            path = here / name
            relative = path.relative_to(root).as_posix()
            reason = _reason_to_pass_over(path)
            if reason is None:
                target = path.resolve()
                if target in seen:
                    reason = f"same file as {seen[target]} (identity is the resolved path)"
                else:
                    seen[target] = relative
                    images.append(path)
                    continue
            passed[relative] = reason
    return Scan(tuple(images), passed)


def _reason_to_pass_over(path: Path) -> str | None:
    """Why a file found by the walk is not an image to take, or None."""
    if path.name.startswith("."):
        return "hidden file"
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return f"not an image file name (extensions {', '.join(IMAGE_EXTENSIONS)}, case-insensitive)"
    if not path.exists():
        return "broken symlink (its target does not exist)"
    if not path.is_file():
        return "not a regular file"
    return None
