"""Datasets: image paths plus a labels table, and a registry of loaders by name.

Built-in loaders: "synthetic-shapes" (generated on first use), "image-folder" (root/<label>/*.png)
and "image-csv" (a CSV with a path column and one column per similarity notion).
"""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from indirect_core.errors import ConfigError, DatasetError

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
"""File extensions (case-insensitive) the folder loader accepts as images."""

SYNTHETIC_SHAPES = "synthetic-shapes"
DATA_DIR_ENV = "INDIRECT_DATA_DIR"
"""Environment variable naming the parent folder of the built-in datasets (default ./data)."""

_SYNTHETIC_DEFAULTS = {"n_images": 1000, "seed": 0, "image_size": 224}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named, ordered list of images with one labels row per image (and optional object masks)."""

    name: str
    root: Path
    image_paths: tuple[Path, ...]
    labels: pd.DataFrame
    masks: tuple[Path, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        object.__setattr__(self, "image_paths", tuple(Path(p) for p in self.image_paths))
        if self.masks is not None:
            object.__setattr__(self, "masks", tuple(Path(p) for p in self.masks))
            if len(self.masks) != len(self.image_paths):
                raise ConfigError(
                    f"dataset {self.name!r}: {len(self.masks)} masks for {len(self.image_paths)} images: "
                    f"pass one mask per image or masks=None"
                )
        if len(self.labels) != len(self.image_paths):
            raise ConfigError(
                f"dataset {self.name!r}: labels has {len(self.labels)} rows for {len(self.image_paths)} images: "
                f"pass one labels row per image"
            )
        object.__setattr__(self, "labels", self.labels.reset_index(drop=True))

    def __len__(self) -> int:
        return len(self.image_paths)

    def subset(self, keep: Sequence[int] | np.ndarray) -> "Dataset":
        """Keep the given indices (ints, in the given order) or boolean mask; e.g. to drop unreadable images."""
        keep_array = np.asarray(keep)
        if keep_array.dtype == bool:
            if keep_array.shape != (len(self),):
                raise ConfigError(
                    f"boolean keep mask has shape {keep_array.shape} for dataset {self.name!r} of "
                    f"{len(self)} images: pass one bool per image"
                )
            indices = np.flatnonzero(keep_array)
        elif keep_array.size == 0:
            indices = np.zeros(0, dtype=int)
        elif np.issubdtype(keep_array.dtype, np.integer):
            indices = keep_array.reshape(-1)
            bad = indices[(indices < 0) | (indices >= len(self))]
            if bad.size:
                raise ConfigError(
                    f"subset indices {bad[:5].tolist()} are out of range for dataset {self.name!r} of "
                    f"{len(self)} images: pass indices in 0..{len(self) - 1}"
                )
        else:
            raise ConfigError(f"subset keep has dtype {keep_array.dtype}: pass integer indices or a boolean mask")
        chosen = [int(i) for i in indices]
        return Dataset(
            name=self.name,
            root=self.root,
            image_paths=tuple(self.image_paths[i] for i in chosen),
            labels=self.labels.iloc[chosen].reset_index(drop=True),
            masks=None if self.masks is None else tuple(self.masks[i] for i in chosen),
        )

    def file_list(self) -> list[str]:
        """Image paths relative to root as posix strings (absolute for images outside root)."""
        root = self.root.absolute()
        out = []
        for path in self.image_paths:
            try:
                out.append(path.absolute().relative_to(root).as_posix())
            except ValueError:
                out.append(path.absolute().as_posix())
        return out

    def identity(self) -> dict:
        """Name, root, size and a sha256 over (relative path, file size) of every image, for cache keys."""
        digest = hashlib.sha256()
        for relative, path in zip(self.file_list(), self.image_paths):
            try:
                size = path.stat().st_size
            except OSError as exc:
                raise DatasetError(
                    f"image {path} of dataset {self.name!r} cannot be read ({exc}): restore the file "
                    f"or reload the dataset"
                ) from exc
            digest.update(f"{relative}\t{size}\n".encode("utf-8"))
        return {
            "name": self.name,
            "root": self.root.absolute().as_posix(),
            "n_images": len(self),
            "files_sha256": digest.hexdigest(),
        }


Loader = Callable[..., Dataset]
_LOADERS: dict[str, Loader] = {}


def register_dataset(name: str, loader: Loader) -> None:
    """Make `loader(root=..., **options)` available as load_dataset(name, ...); replaces an older one."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"dataset name {name!r} is invalid: pass a non-empty string")
    if not callable(loader):
        raise ConfigError(f"loader for dataset {name!r} is not callable: pass a function (root, **options) -> Dataset")
    _LOADERS[name] = loader


def available_datasets() -> list[str]:
    """Names accepted by load_dataset, sorted."""
    return sorted(_LOADERS)


def load_dataset(name: str, /, root: str | Path | None = None, **options) -> Dataset:
    """Load the dataset registered as `name`; `root` and `options` (e.g. a display `name=`) go to its loader."""
    if name not in _LOADERS:
        raise ConfigError(
            f"unknown dataset {name!r}: use one of {', '.join(available_datasets())} "
            f"(or register your own with register_dataset)"
        )
    loader = _LOADERS[name]
    parameters = inspect.signature(loader).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [k for k in options if k not in parameters]
    if unknown and not takes_any:
        accepted = [k for k in parameters if k != "root"]
        raise ConfigError(
            f"dataset {name!r} does not accept option(s) {', '.join(unknown)}: "
            f"accepted options are {', '.join(accepted) or 'none'}"
        )
    return loader(root=root, **options)


# ---------------------------------------------------------------- synthetic-shapes


def default_synthetic_root(n_images: int = 1000, seed: int = 0, image_size: int = 224) -> Path:
    """data/synthetic-shapes under $INDIRECT_DATA_DIR or ./data; non-default parameters get their own folder."""
    parent = Path(os.environ[DATA_DIR_ENV]) if os.environ.get(DATA_DIR_ENV) else Path.cwd() / "data"
    params = {"n_images": n_images, "seed": seed, "image_size": image_size}
    if params == _SYNTHETIC_DEFAULTS:
        return parent / SYNTHETIC_SHAPES
    return parent / f"{SYNTHETIC_SHAPES}-n{n_images}-px{image_size}-seed{seed}"


def load_synthetic_shapes(root: str | Path | None = None, n_images: int = 1000, seed: int = 0,
                          image_size: int = 224, progress: bool = True) -> Dataset:
    """The embedded Synthetic Shapes dataset, generated into `root` on first use, read from manifest.csv."""
    from indirect_core.synthetic_shapes import MANIFEST_COLUMNS, generate_synthetic_shapes

    root_path = Path(root) if root is not None else default_synthetic_root(n_images, seed, image_size)
    root_path = generate_synthetic_shapes(root_path, n_images=n_images, image_size=image_size, seed=seed,
                                          progress=progress)
    manifest_path = root_path / "manifest.csv"
    if not manifest_path.is_file():
        raise DatasetError(f"{manifest_path} is missing: delete the folder {root_path} so it is regenerated")
    manifest = pd.read_csv(manifest_path, dtype={"image": str, "mask": str, "shape": str,
                                                 "object_colour": str, "background_colour": str},
                           keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise DatasetError(
            f"{manifest_path} lacks column(s) {', '.join(missing)} (has {', '.join(manifest.columns)}): "
            f"delete the folder {root_path} so it is regenerated"
        )
    image_paths = tuple(root_path / p for p in manifest["image"])
    masks = tuple(root_path / p for p in manifest["mask"])
    labels = manifest.drop(columns=["image", "mask"])
    return Dataset(name=SYNTHETIC_SHAPES, root=root_path, image_paths=image_paths, labels=labels, masks=masks)


# ---------------------------------------------------------------- user folders and CSVs


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def load_image_folder(root: str | Path, name: str | None = None) -> Dataset:
    """A user's folder root/<label>/<image>: one label column `label`, paths sorted by label then file name."""
    root_path = Path(root).absolute()
    if not root_path.is_dir():
        raise DatasetError(
            f"image folder {root_path} does not exist: create it with one sub-folder per label "
            f"(root/<label>/<image>) or pass root=<your folder>"
        )
    paths: list[Path] = []
    labels: list[str] = []
    for label_dir in sorted(p for p in root_path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for image in sorted(p for p in label_dir.iterdir() if _is_image(p)):
            paths.append(image)
            labels.append(label_dir.name)
    if not paths:
        loose = sum(1 for p in root_path.iterdir() if _is_image(p))
        hint = f" ({loose} images lie directly in {root_path}; move them into label sub-folders)" if loose else ""
        raise DatasetError(
            f"no images found in {root_path}/<label>/ with extensions {', '.join(IMAGE_EXTENSIONS)}{hint}: "
            f"put each image in a sub-folder named after its label"
        )
    return Dataset(name=name or root_path.name, root=root_path, image_paths=tuple(paths),
                   labels=pd.DataFrame({"label": labels}))


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
        shown = ", ".join(str(p) for p in missing_files[:5])
        raise DatasetError(
            f"{len(missing_files)} image path(s) in {csv_file} (column {path_column!r}) do not exist, e.g. {shown}: "
            f"paths are relative to {folder} unless absolute; fix the CSV or restore the files"
        )
    return Dataset(name=name or csv_file.stem, root=folder, image_paths=tuple(paths),
                   labels=table[label_columns].reset_index(drop=True))


def _image_folder_loader(root: str | Path | None = None, name: str | None = None) -> Dataset:
    if root is None:
        raise ConfigError("dataset 'image-folder' needs root=<folder with one sub-folder per label>")
    return load_image_folder(root, name=name)


def _image_csv_loader(root: str | Path | None = None, path_column: str = "path",
                      label_columns: Sequence[str] | None = None, name: str | None = None) -> Dataset:
    """root is the CSV file, or a folder holding labels.csv."""
    if root is None:
        raise ConfigError("dataset 'image-csv' needs root=<labels CSV file, or a folder holding labels.csv>")
    csv_file = Path(root)
    if csv_file.is_dir():
        csv_file = csv_file / "labels.csv"
    return load_image_csv(csv_file, path_column=path_column, label_columns=label_columns, name=name)


register_dataset(SYNTHETIC_SHAPES, load_synthetic_shapes)
register_dataset("image-folder", _image_folder_loader)
register_dataset("image-csv", _image_csv_loader)
