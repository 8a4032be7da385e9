"""Your own images: a folder root/<label>/... ("image-folder"), a CSV of paths and labels ("image-csv"; a
CSV with only the path column gives images without labels), or a plain folder without labels
(``load_plain_folder``: images directly in it or in nested folders, as ``Space.add_images`` indexes them).
The folder loaders walk with ``scan_folder``: a file they do not take is listed in ``passed_over``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from indirect_core.data.datasets.core import IMAGE_EXTENSIONS, Dataset, shown
from indirect_core.data.datasets.scan import scan_folder
from indirect_core._util.errors import ConfigError, DatasetError


def load_image_folder(root: str | Path, name: str | None = None) -> Dataset:
    """A user's folder root/<label>/...: one label column `label` (the top-level sub-folder, images at any depth
    below it), sorted by label then path; every other file is listed in ``passed_over`` with its reason."""
    root_path = Path(root).expanduser().resolve()
    if not root_path.is_dir():
        raise DatasetError(
            f"image folder {root_path} does not exist: create it with one sub-folder per label "
            f"(root/<label>/<image>) or pass root=<your folder>"
        )
    scan = scan_folder(root_path)
    passed = dict(scan.passed_over)
    labelled: list[tuple[str, str, Path]] = []
    for path in scan.images:
        parts = path.relative_to(root_path).parts
        if len(parts) == 1:
            passed[parts[0]] = "not in a label sub-folder (root/<label>/...): move it into the folder of its label"
        else:
            labelled.append((parts[0], path.relative_to(root_path).as_posix(), path))
    if not labelled:
        loose = sum(1 for reason in passed.values() if reason.startswith("not in a label sub-folder"))
        hint = f" ({loose} images lie directly in {root_path}; move them into label sub-folders)" if loose else ""
        raise DatasetError(
            f"no images found in {root_path}/<label>/ with extensions {', '.join(IMAGE_EXTENSIONS)}{hint}: "
            f"put each image in a sub-folder named after its label"
        )
    labelled.sort(key=lambda item: (item[0], item[1]))
    return Dataset(name=name or root_path.name, root=root_path, image_paths=tuple(p for _, _, p in labelled),
                   labels=pd.DataFrame({"label": [label for label, _, _ in labelled]}), passed_over=passed)


def load_plain_folder(root: str | Path, name: str | None = None) -> Dataset:
    """Every image under ``root`` (directly in it or in nested folders), sorted by relative path, with no label
    columns: a collection to index and search. Every other file is listed in ``passed_over`` with its reason."""
    root_path = Path(root).expanduser().resolve()
    if not root_path.is_dir():
        raise DatasetError(f"image folder {root_path} does not exist: pass the folder that holds your images")
    scan = scan_folder(root_path)
    paths = sorted(scan.images, key=lambda p: p.relative_to(root_path).as_posix())
    if not paths:
        others = f" ({len(scan.passed_over)} other entries: {shown(list(scan.passed_over))})" \
            if scan.passed_over else ""
        raise DatasetError(f"no images found in {root_path} or its sub-folders{others} (extensions "
                           f"{', '.join(IMAGE_EXTENSIONS)}, case-insensitive): put your images there, or pass "
                           "the folder that holds them")
    return Dataset(name=name or root_path.name, root=root_path, image_paths=tuple(paths),
                   labels=pd.DataFrame(index=range(len(paths))), passed_over=scan.passed_over)


def load_image_csv(csv_path: str | Path, path_column: str = "path", label_columns: Sequence[str] | None = None,
                   name: str | None = None) -> Dataset:
    """A CSV with an image path column (relative to the CSV's folder, or absolute) and one column per notion."""
    csv_file = Path(csv_path).absolute()
    if not csv_file.is_file():
        raise DatasetError(f"CSV file {csv_file} does not exist: pass csv_path=<your labels CSV>")
    try:
        table = pd.read_csv(csv_file, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot parse CSV file {csv_file} ({exc}): fix the file (comma-separated, UTF-8)") from exc
    columns = list(table.columns)
    if path_column not in columns:
        raise DatasetError(
            f"CSV file {csv_file} has no path column {path_column!r} (columns: {', '.join(columns)}): "
            f"pass path_column=<the column holding image paths>"
        )
    if label_columns is None:
        label_columns = [c for c in columns if c != path_column]
    else:
        label_columns = [label_columns] if isinstance(label_columns, str) else list(label_columns)
        missing = [c for c in label_columns if c not in columns]
        if missing:
            raise DatasetError(
                f"CSV file {csv_file} has no label column(s) {', '.join(map(repr, missing))} "
                f"(columns: {', '.join(columns)}): fix label_columns"
            )
    if table.empty:
        raise DatasetError(f"CSV file {csv_file} has no rows: add one row per image")
    folder = csv_file.parent
    paths = [Path(p) if Path(p).is_absolute() else folder / p for p in table[path_column]]
    missing_files = [p for p in paths if not p.is_file()]
    if missing_files:
        examples = ", ".join(str(p) for p in missing_files[:5])
        raise DatasetError(
            f"{len(missing_files)} image path(s) in {csv_file} (column {path_column!r}) do not exist, e.g. {examples}: "
            f"paths are relative to {folder} unless absolute; fix the CSV or restore the files"
        )
    return Dataset(name=name or csv_file.stem, root=folder, image_paths=tuple(paths),
                   labels=table[label_columns].reset_index(drop=True))


def image_folder_loader(root: str | Path | None = None, name: str | None = None) -> Dataset:
    """Registry entry "image-folder": root is the folder with one sub-folder per label."""
    if root is None:
        raise ConfigError("dataset 'image-folder' needs root=<folder with one sub-folder per label>")
    return load_image_folder(root, name=name)


def image_csv_loader(root: str | Path | None = None, path_column: str = "path",
                     label_columns: Sequence[str] | None = None, name: str | None = None) -> Dataset:
    """Registry entry "image-csv": root is the CSV file, or a folder holding labels.csv."""
    if root is None:
        raise ConfigError("dataset 'image-csv' needs root=<labels CSV file, or a folder holding labels.csv>")
    csv_file = Path(root)
    if csv_file.is_dir():
        csv_file = csv_file / "labels.csv"
    return load_image_csv(csv_file, path_column=path_column, label_columns=label_columns, name=name)
