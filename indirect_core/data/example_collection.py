"""An example of "your own collection", written from synthetic-shapes images: a labelled image folder.

Layout: ``<root>/<object colour>/<shape>-<number>.png`` (the "image-folder" layout: one sub-folder per label)
plus ``<root>/labels.csv`` (columns path, shape, object_colour, background_colour: the "image-csv" layout).
``plans/my-photos.yaml`` and the explorer (``make explore``) run on it. Written by
``python -m indirect_core example-folder [ROOT]`` (default ``data/my-photos``); the explorer writes it on first use.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from .._util.atomic import write_json_atomic, write_text_atomic
from .datasets.core import data_parent
from .._util.errors import ConfigError
from .._util.validation import check_int

EXAMPLE_NAME = "my-photos"
RECORD_FILE = "example.json"
LABEL_COLUMNS = ("shape", "object_colour", "background_colour")


def default_example_root() -> Path:
    """``$INDIRECT_DATA_DIR/my-photos`` (default ``data/my-photos``)."""
    return data_parent() / EXAMPLE_NAME


def write_example_collection(root: str | Path | None = None, n_images: int = 120, image_size: int = 64,
                             seed: int = 0, progress: bool = False) -> Path:
    """Write the example folder once (reused when it exists with the same settings) and return its root.

    The images are synthetic-shapes images drawn by ``seed``, copied into one sub-folder per object colour.
    The folder appears in one rename, so a killed run never leaves half of it; an existing folder that is
    not this example (or was made with other settings) is never overwritten.
    """
    from .datasets import load_dataset

    check_int("n_images", n_images)
    check_int("image_size", image_size, minimum=16)
    root = Path(root).expanduser().absolute() if root is not None else default_example_root().absolute()
    settings = {"kind": "indirect_core example collection", "n_images": n_images, "image_size": image_size,
                "seed": seed}
    if root.exists():
        try:
            found = json.loads((root / RECORD_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            found = None
        if found == settings:
            return root
        what = "was written with other settings" if isinstance(found, dict) and found.get("kind") == \
            settings["kind"] else "is not an example collection"
        raise ConfigError(f"{root} already exists and {what}: delete it first, or pass another folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".tmp", dir=root.parent))
    try:
        shapes = load_dataset("synthetic-shapes", root=tmp / ".source", n_images=n_images, image_size=image_size,
                              seed=seed, progress=progress)
        rows = []
        for number, (source, labels) in enumerate(zip(shapes.image_paths, shapes.labels.to_dict("records"))):
            relative = Path(labels["object_colour"]) / f"{labels['shape']}-{number:04d}.png"
            (tmp / relative.parent).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / relative)
            rows.append({"path": relative.as_posix(), **{c: labels[c] for c in LABEL_COLUMNS}})
        shutil.rmtree(tmp / ".source")
        write_text_atomic(tmp / "labels.csv", pd.DataFrame(rows).to_csv(index=False))
        write_json_atomic(tmp / RECORD_FILE, settings)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
