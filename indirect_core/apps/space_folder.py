"""A saved space on disk: the folder's format and files, its record (``space.json``), the refusal of another
backbone than the one it was built with, and the renames that replace a folder atomically."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .._util.errors import ConfigError, DatasetError
from ..backbone import RANDOM_ARCHITECTURES, SHAPES_CLIP

SPACE_FORMAT = 1
"""Version of a saved space folder; ``Space.load`` reads this version only."""
SPACE_FILE, PROJECTION_FILE, EMBEDDINGS_FILE, IMAGES_FILE, IVF_FILE = (
    "space.json", "projection.pt", "embeddings.npy", "images.csv", "index.faiss")


def read_space_record(folder: str | Path) -> dict:
    """The ``space.json`` of a saved space, checked for this version's format."""
    folder = Path(folder)
    path = folder / SPACE_FILE
    if not path.is_file():
        raise DatasetError(f"{folder} is not a saved space (no {SPACE_FILE}): create one with "
                           f"python -m indirect_core space fit {folder} ... (or Space.from_prompts(...).save(folder))")
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path} is unreadable ({error}): save the space again") from None
    if not isinstance(record, dict) or record.get("format") != SPACE_FORMAT:
        found = record.get("format") if isinstance(record, dict) else None
        raise DatasetError(f"space {folder} has format {found!r}; this version reads format {SPACE_FORMAT}: "
                           "fit and save it again")
    return record


def default_backbone_spec(folder: str | Path) -> str:
    """The backbone spec a saved space was built with (for the command line's default ``--backbone``)."""
    return read_space_record(folder).get("backbone_spec") or "auto"


def check_backbone(folder: Path, record: dict, name: str, sha256: str | None) -> None:
    """Refuse a backbone other than the one the saved space was built with. Without the weights' hash (not
    built or downloaded yet) only two different CLIP names or random stand-ins tell for sure."""
    saved = record["backbone"]
    if sha256 is not None:
        differs = sha256 != saved.get("sha256")
    else:
        import clip

        known = set(RANDOM_ARCHITECTURES) | set(clip.available_models()) | {SHAPES_CLIP}
        differs = name in known and saved.get("name") in known and name != saved.get("name")
    if differs:
        weights = f" ({sha256[:12]}…)" if sha256 else ""
        raise ConfigError(f"space {folder} was built with backbone {saved.get('name')} (weights sha256 "
                          f"{str(saved.get('sha256'))[:12]}…), not {name}{weights}: load it with that backbone "
                          f"(e.g. --backbone {record.get('backbone_spec')}), or fit a new space with this one")


def replace_folder(tmp: Path, target: Path) -> None:
    """Move the finished folder ``tmp`` onto ``target`` by renames (an older ``target`` is removed after)."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except OSError:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
