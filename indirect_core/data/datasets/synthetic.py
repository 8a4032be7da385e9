"""synthetic-shapes: the embedded dataset, generated on first use (see indirect_core.synthetic_shapes)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from indirect_core.data.datasets.core import Dataset, data_parent
from indirect_core._util.errors import DatasetError

SYNTHETIC_SHAPES = "synthetic-shapes"

_SYNTHETIC_DEFAULTS = {"n_images": 1000, "seed": 0, "image_size": 224}


def default_synthetic_root(n_images: int = 1000, seed: int = 0, image_size: int = 224) -> Path:
    """data/synthetic-shapes under $INDIRECT_DATA_DIR or ./data; non-default parameters get their own folder."""
    parent = data_parent()
    params = {"n_images": n_images, "seed": seed, "image_size": image_size}
    if params == _SYNTHETIC_DEFAULTS:
        return parent / SYNTHETIC_SHAPES
    return parent / f"{SYNTHETIC_SHAPES}-n{n_images}-px{image_size}-seed{seed}"


def load_synthetic_shapes(root: str | Path | None = None, n_images: int = 1000, seed: int = 0,
                          image_size: int = 224, progress: bool = True) -> Dataset:
    """The embedded Synthetic Shapes dataset, generated into `root` on first use, read from manifest.csv."""
    from indirect_core.data.synthetic_shapes import MANIFEST_COLUMNS, generate_synthetic_shapes

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
