"""FashionIQ (Wu et al., CVPR 2021): product images with two relative captions per query; val of dress, shirt, toptee.

One QuerySet per category (``subset`` = category). A record is ``{"candidate": reference, "target": target,
"captions": [first, second]}``; the gallery is that category's val image split (``split.<category>.val.json``).
The reference is **not** removed from the ranking: SEARLE's, LinCIR's and Pic2Word's FashionIQ evaluations
rank the whole category gallery, reference included. A reference the split does not list is added to the
images (so its features are cached) but not to the gallery.

Two layouts are read (``layout="auto"`` picks the one present):
- ``searle`` (SEARLE/LinCIR): ``captions/cap.<category>.val.json``, ``image_splits/split.<category>.val.json``,
  ``images/<name>.jpg``;
- ``pic2word``: ``fashion-iq/json/cap.<category>.val.json``, ``fashion-iq/image_splits/split.<category>.val.json``,
  ``fashion-iq/images/<name>.png``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ...data.datasets import Dataset
from ...data.datasets.core import resolve_root
from ..._util.errors import ConfigError
from ..._util.validation import check_choice
from ..queries import QuerySet
from .common import PIC2WORD, SEARLE, Missing, choose_layout, field, index_of, json_list, \
    require_images, unique_names

FASHIONIQ = "fashioniq"
CATEGORIES: tuple[str, ...] = ("dress", "shirt", "toptee")
SPLITS: tuple[str, ...] = ("val",)
LAYOUTS: tuple[str, ...] = (SEARLE, PIC2WORD)
SOURCE = ("the captions and image splits at github.com/XiaoxiaoGuo/fashion-iq; the images from the URL lists "
          "published there (many links are dead; Pic2Word's data/README.md points to the copy linked from "
          "github.com/postBG/CosMo.pytorch)")
_EXTENSION = {SEARLE: ".jpg", PIC2WORD: ".png"}


def expected_files(categories: Sequence[str] = CATEGORIES) -> str:
    """Both layouts' files for the given categories, for the missing-data message."""
    cats = "{" + ",".join(categories) + "}"
    return (f"SEARLE/LinCIR layout: <root>/captions/cap.{cats}.val.json, <root>/image_splits/split.{cats}.val.json "
            f"and the images at <root>/images/<name>.jpg; or Pic2Word layout: "
            f"<root>/fashion-iq/json/cap.{cats}.val.json, <root>/fashion-iq/image_splits/split.{cats}.val.json "
            f"and the images at <root>/fashion-iq/images/<name>.png")


def annotation_files(root: Path, category: str, layout: str) -> tuple[Path, Path]:
    """(captions file, image-split file) of one category in one layout."""
    if layout == SEARLE:
        return root / "captions" / f"cap.{category}.val.json", root / "image_splits" / f"split.{category}.val.json"
    base = root / "fashion-iq"
    return base / "json" / f"cap.{category}.val.json", base / "image_splits" / f"split.{category}.val.json"


def image_folder(root: Path, layout: str) -> Path:
    """The folder holding every FashionIQ image in one layout."""
    return root / "images" if layout == SEARLE else root / "fashion-iq" / "images"


def load_fashioniq(root: str | Path | None = None, split: str = "val", layout: str = "auto",
                   categories: Sequence[str] = CATEGORIES) -> list[QuerySet]:
    """One QuerySet per category: two captions per query, gallery = the category's val images, no exclusion."""
    check_choice(f"benchmark {FASHIONIQ!r}: split", split, SPLITS)
    if isinstance(categories, str) or not categories:
        raise ConfigError(f"benchmark {FASHIONIQ!r}: categories={categories!r} must be a non-empty list of "
                          f"{', '.join(CATEGORIES)}")
    categories = tuple(check_choice(f"benchmark {FASHIONIQ!r}: categories", c, CATEGORIES) for c in categories)
    root_path = resolve_root(FASHIONIQ, root)
    missing = Missing(FASHIONIQ, root_path, expected_files(categories), SOURCE)
    files = {name: [f for c in categories for f in annotation_files(root_path, c, name)] for name in LAYOUTS}
    layout = choose_layout(FASHIONIQ, layout, files, missing)
    return [_load_category(root_path, category, layout, missing) for category in categories]


def _load_category(root: Path, category: str, layout: str, missing: Missing) -> QuerySet:
    """One category's QuerySet in the chosen layout."""
    captions_file, split_file = annotation_files(root, category, layout)
    records = json_list(captions_file, missing)
    if not records:
        raise missing(f"{captions_file} holds no queries")
    listing = json_list(split_file, missing)
    names = [str(name) for name in listing]
    gallery = unique_names(names, split_file, missing)
    positions = dict(gallery)
    reference, targets, captions = [], [], []
    for i, record in enumerate(records):
        candidate = str(field(record, "candidate", captions_file, i, missing))
        if candidate not in positions:  # a reference outside the split: an image, not a gallery entry
            positions[candidate] = len(names)
            names.append(candidate)
        reference.append(positions[candidate])
        targets.append((index_of(gallery, field(record, "target", captions_file, i, missing), captions_file, i,
                                 "target", split_file, missing),))
        pair = field(record, "captions", captions_file, i, missing)
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(c, str) for c in pair):
            raise missing(f"entry {i} of {captions_file} has {pair!r} as captions, not a list of two strings")
        captions.append(tuple(pair))
    folder = image_folder(root, layout)
    paths = [folder / f"{name}{_EXTENSION[layout]}" for name in names]
    require_images(paths, f"images of {split_file} and {captions_file} in {folder}", missing)
    images = Dataset(name=f"{FASHIONIQ}-{category}-val", root=root, image_paths=tuple(paths),
                     labels=pd.DataFrame({"name": names}))
    return QuerySet(benchmark=FASHIONIQ, split="val", subset=category, images=images,
                    reference=np.asarray(reference), captions=tuple(captions), targets=tuple(targets),
                    gallery=np.arange(len(gallery)), exclude_reference=False)
