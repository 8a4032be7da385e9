"""The Dataset type (image paths + one labels row per image), the loader registry and shared helpers.

Every loader is a function ``(root=None, **options) -> Dataset`` registered under a name; the helpers here
give the paper datasets one default root rule and one "dataset missing" message format.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from indirect_core._util.errors import ConfigError, DatasetError
from indirect_core._util.validation import check_options

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""File extensions (case-insensitive) the folder loaders take as images; other files are listed as passed over."""

DATA_DIR_ENV = "INDIRECT_DATA_DIR"
"""Environment variable naming the parent folder of the built-in datasets (default ./data)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named, ordered list of images with one labels row per image (and optional object masks).

    ``passed_over`` lists the files under ``root`` that the loader saw and did not take (path relative to
    ``root`` -> why); the cache reports them with the unreadable images.
    """

    name: str
    root: Path
    image_paths: tuple[Path, ...]
    labels: pd.DataFrame
    masks: tuple[Path, ...] | None = None
    passed_over: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        object.__setattr__(self, "passed_over", dict(self.passed_over))
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
            passed_over=self.passed_over,
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
    check_options(f"dataset {name!r}", loader, options, set_by_caller=("root",))
    return loader(root=root, **options)


# ---------------------------------------------------------------- helpers shared by the paper loaders


def data_parent() -> Path:
    """$INDIRECT_DATA_DIR if set, else ./data: the folder holding one sub-folder per built-in dataset."""
    return Path(os.environ[DATA_DIR_ENV]) if os.environ.get(DATA_DIR_ENV) else Path.cwd() / "data"


def default_root(name: str) -> Path:
    """Where a built-in dataset is looked for when no root is given: data/<name> (or $INDIRECT_DATA_DIR/<name>)."""
    return data_parent() / name


def resolve_root(name: str, root: str | Path | None) -> Path:
    """The absolute root folder of dataset `name`: `root` if given, else its default root."""
    return (Path(root) if root is not None else default_root(name)).absolute()


def is_image(path: Path) -> bool:
    """A visible regular file with one of IMAGE_EXTENSIONS."""
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def missing_dataset(name: str, root: Path, problem: str, layout: str, source: str) -> DatasetError:
    """The one error for a missing or incomplete paper dataset: problem, layout, publisher, where to put it."""
    return DatasetError(
        f"dataset {name!r} is missing or incomplete at {root}: {problem}. "
        f"Expected layout: {layout}. "
        f"Where to get it: {source}. "
        f"Nothing is downloaded automatically: download it yourself and put the files in data/{name}/ "
        f"(the default root), or in ${DATA_DIR_ENV}/{name}/, or pass root=<folder> to load_dataset."
    )


def shown(items: Sequence[object], limit: int = 3) -> str:
    """The first few items as a comma-separated string, with '...' when there are more (for error messages)."""
    text = ", ".join(str(i) for i in list(items)[:limit])
    return text + (", ..." if len(items) > limit else "")
