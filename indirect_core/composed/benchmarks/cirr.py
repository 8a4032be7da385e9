"""CIRR (Liu et al., ICCV 2021): composed retrieval on NLVR2 photographs; val (with targets) and test1 (hidden).

Each query is a reference image and one caption; its target is ``target_hard``. The gallery is every image of
the split (``split.rc2.<split>.json``) and the reference is removed from its own ranking, as in SEARLE's and
LinCIR's evaluation. ``candidates`` are the query's ``img_set.members`` minus the reference: the subset on
which Recall_subset@1,2,3 is computed (5 images in the official files).

Two layouts are read (``layout="auto"`` picks the one present):
- ``searle`` (SEARLE/LinCIR ``--dataset-path``): ``cirr/captions/cap.rc2.<split>.json``,
  ``cirr/image_splits/split.rc2.<split>.json`` (image name -> relative path), images at ``<root>/<relative path>``;
- ``pic2word`` (Pic2Word ``./data``): ``CIRR/captions/...``, ``CIRR/image_splits/...``, images at
  ``CIRR/dev/<name>.png`` (val) or ``CIRR/test1/<name>.png`` (test1); the relative paths are not used.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...data.datasets import Dataset
from ...data.datasets.core import resolve_root
from ..._util.validation import check_choice
from ..queries import QuerySet
from .common import PIC2WORD, SEARLE, Missing, choose_layout, field, index_of, json_list, read_json, \
    require_images

CIRR = "cirr"
SPLITS: tuple[str, ...] = ("val", "test1")
SPLIT_ALIASES = {"test": "test1"}
LAYOUTS: tuple[str, ...] = (SEARLE, PIC2WORD)
SOURCE = ("the annotations (captions/, image_splits/) at github.com/Cuberick-Orion/CIRR; the images are NLVR2's "
          "raw images (lil.nlp.cornell.edu/nlvr/, access through the form linked from the CIRR README), of which "
          "CIRR uses the dev/ and test1/ folders")
_IMAGE_FOLDER = {"val": "dev", "test1": "test1"}


def expected_files(split: str) -> str:
    """Both layouts' files for one split, for the missing-data message."""
    folder = _IMAGE_FOLDER[split]
    return (f"SEARLE/LinCIR layout: <root>/cirr/captions/cap.rc2.{split}.json, "
            f"<root>/cirr/image_splits/split.rc2.{split}.json (image name -> relative path such as "
            f"./{folder}/<name>.png) and the images at <root>/<relative path>; or Pic2Word layout: "
            f"<root>/CIRR/captions/cap.rc2.{split}.json, <root>/CIRR/image_splits/split.rc2.{split}.json and the "
            f"images at <root>/CIRR/{folder}/<name>.png")


def annotation_files(root: Path, split: str, layout: str) -> tuple[Path, Path]:
    """(captions file, image-split file) of one layout."""
    base = root / ("cirr" if layout == SEARLE else "CIRR")
    return base / "captions" / f"cap.rc2.{split}.json", base / "image_splits" / f"split.rc2.{split}.json"


def image_path(root: Path, split: str, layout: str, name: str, relative: str) -> Path:
    """Where one image lies: ``<root>/<relative path>`` (SEARLE) or ``<root>/CIRR/<dev|test1>/<name>.png``."""
    if layout == SEARLE:
        return root / relative
    return root / "CIRR" / _IMAGE_FOLDER[split] / f"{name}.png"


def load_cirr(root: str | Path | None = None, split: str = "val", layout: str = "auto") -> list[QuerySet]:
    """CIRR val or test1 as one QuerySet (gallery = the split's images, reference excluded, img_set subsets)."""
    split = check_choice(f"benchmark {CIRR!r}: split", SPLIT_ALIASES.get(split, split), SPLITS)
    root_path = resolve_root(CIRR, root)
    missing = Missing(CIRR, root_path, expected_files(split), SOURCE)
    files = {name: annotation_files(root_path, split, name) for name in LAYOUTS}

    def first_image_present(present: list[str]) -> str:
        # On a case-insensitive file system cirr/ and CIRR/ are one folder: follow the images.
        for name in present:
            listing = read_json(files[name][1], missing)
            if isinstance(listing, dict) and listing:
                first, relative = next(iter(listing.items()))
                if image_path(root_path, split, name, str(first), str(relative)).is_file():
                    return name
        return present[0]

    layout = choose_layout(CIRR, layout, files, missing, tie_break=first_image_present)
    captions_file, split_file = files[layout]
    records = json_list(captions_file, missing)
    if not records:
        raise missing(f"{captions_file} holds no queries")
    listing = read_json(split_file, missing)
    if not isinstance(listing, dict) or not all(isinstance(v, str) for v in listing.values()):
        raise missing(f"{split_file} is not a JSON object mapping image names to relative paths")
    names = [str(name) for name in listing]
    positions = {name: i for i, name in enumerate(names)}
    paths = [image_path(root_path, split, layout, name, listing[name]) for name in names]
    require_images(paths, f"images listed in {split_file}", missing)

    reference, captions, targets, candidates, pair_ids, img_sets = [], [], [], [], [], []
    for i, record in enumerate(records):
        ref = index_of(positions, field(record, "reference", captions_file, i, missing), captions_file, i,
                       "reference", split_file, missing)
        caption = field(record, "caption", captions_file, i, missing)
        members = field(field(record, "img_set", captions_file, i, missing), "members", captions_file, i, missing)
        member_index = [index_of(positions, m, captions_file, i, "img_set member", split_file, missing)
                        for m in members]
        reference.append(ref)
        captions.append((str(caption),))
        # The Recall_subset candidates: the image set without the reference (CIRR's rule for both servers).
        candidates.append(tuple(m for m in member_index if m != ref))
        pair_ids.append(str(field(record, "pairid", captions_file, i, missing)))
        img_sets.append(record["img_set"].get("id"))
        if split == "val":
            target = field(record, "target_hard", captions_file, i, missing)
            targets.append((index_of(positions, target, captions_file, i, "target", split_file, missing),))
        else:
            targets.append(())
    images = Dataset(name=f"{CIRR}-{split}", root=root_path, image_paths=tuple(paths),
                     labels=pd.DataFrame({"name": names}))
    return [QuerySet(benchmark=CIRR, split=split, subset="", images=images, reference=np.asarray(reference),
                     captions=tuple(captions), targets=tuple(targets), gallery=np.arange(len(names)),
                     candidates=tuple(candidates), exclude_reference=True, query_ids=tuple(pair_ids),
                     info=pd.DataFrame({"img_set_id": img_sets}))]
