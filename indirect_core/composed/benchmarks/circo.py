"""CIRCO (Baldrati et al., ICCV 2023): composed retrieval with several ground truths on COCO 2017 unlabeled images.

A val record holds ``reference_img_id``, ``relative_caption``, ``shared_concept``, ``target_img_id`` and
``gt_img_ids`` (up to 23 ground truths); a test record lacks the last two (scored by the CIRCO server). A query's
``targets`` are its ``target_img_id`` first, then the other ground truths in file order: mAP@K counts them all,
Recall@K the first only, as CIRCO's evaluation does (the released val file lists the target first anyway). The gallery is every image of ``COCO2017_unlabeled/annotations/image_info_unlabeled2017.json``
(123,403 images), in that file's order, for both splits, so one feature cache serves val and test. The
reference is not removed from the ranking (SEARLE's and LinCIR's CIRCO code do not remove it).

Only the SEARLE/LinCIR layout exists (Pic2Word does not evaluate CIRCO): ``annotations/<split>.json``,
``COCO2017_unlabeled/annotations/image_info_unlabeled2017.json``, ``COCO2017_unlabeled/unlabeled2017/<file_name>``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...data.datasets import Dataset
from ...data.datasets.core import resolve_root
from ..._util.errors import ConfigError
from ..._util.validation import check_choice
from ..queries import QuerySet
from .common import PIC2WORD, SEARLE, Missing, choose_layout, field, index_of, json_list, \
    read_json, require_images, unique_names

CIRCO = "circo"
SPLITS: tuple[str, ...] = ("val", "test")
LAYOUTS: tuple[str, ...] = (SEARLE,)
SOURCE = ("the annotations (annotations/val.json, annotations/test.json) at github.com/miccunifi/CIRCO; the COCO "
          "2017 unlabeled images (unlabeled2017.zip) and their image info (image_info_unlabeled2017.zip) at "
          "cocodataset.org/#download")
IMAGE_INFO = Path("COCO2017_unlabeled") / "annotations" / "image_info_unlabeled2017.json"
IMAGE_FOLDER = Path("COCO2017_unlabeled") / "unlabeled2017"


def expected_files(split: str) -> str:
    """The one layout's files, for the missing-data message."""
    return (f"SEARLE/LinCIR layout (Pic2Word has none for CIRCO): <root>/annotations/{split}.json, "
            f"<root>/{IMAGE_INFO.as_posix()} and the images at <root>/{IMAGE_FOLDER.as_posix()}/<file_name>")


def load_circo(root: str | Path | None = None, split: str = "val", layout: str = "auto") -> list[QuerySet]:
    """CIRCO val (with every ground truth) or test (hidden) as one QuerySet over the unlabeled-2017 gallery."""
    split = check_choice(f"benchmark {CIRCO!r}: split", split, SPLITS)
    if layout == PIC2WORD:
        raise ConfigError(f"benchmark {CIRCO!r}: layout='pic2word' does not exist (Pic2Word does not evaluate "
                          f"CIRCO): use layout='auto' or 'searle'")
    root_path = resolve_root(CIRCO, root)
    missing = Missing(CIRCO, root_path, expected_files(split), SOURCE)
    annotations = root_path / "annotations" / f"{split}.json"
    choose_layout(CIRCO, layout, {SEARLE: [annotations, root_path / IMAGE_INFO]}, missing)
    records = json_list(annotations, missing)
    if not records:
        raise missing(f"{annotations} holds no queries")
    info = read_json(root_path / IMAGE_INFO, missing)
    entries = info.get("images") if isinstance(info, dict) else None
    if not isinstance(entries, list) or not entries:
        raise missing(f"{root_path / IMAGE_INFO} has no non-empty 'images' list")
    ids = [str(field(e, "id", root_path / IMAGE_INFO, i, missing)) for i, e in enumerate(entries)]
    folder = root_path / IMAGE_FOLDER
    paths = [folder / str(field(e, "file_name", root_path / IMAGE_INFO, i, missing)) for i, e in enumerate(entries)]
    positions = unique_names(ids, root_path / IMAGE_INFO, missing)
    require_images(paths, f"images listed in {root_path / IMAGE_INFO}", missing)

    listing = root_path / IMAGE_INFO
    reference, captions, targets, query_ids, concepts = [], [], [], [], []
    for i, record in enumerate(records):
        reference.append(index_of(positions, field(record, "reference_img_id", annotations, i, missing),
                                  annotations, i, "reference", listing, missing))
        captions.append((str(field(record, "relative_caption", annotations, i, missing)),))
        query_ids.append(str(field(record, "id", annotations, i, missing)))
        concepts.append(str(record.get("shared_concept", "")))
        if split == "val":
            truths = [str(t) for t in field(record, "gt_img_ids", annotations, i, missing)]
            target = str(field(record, "target_img_id", annotations, i, missing))
            if target not in truths:
                raise missing(f"entry {i} of {annotations}: target_img_id {target} is not among its gt_img_ids")
            ordered = [target] + [t for t in truths if t != target]  # Recall@K scores the first
            targets.append(tuple(index_of(positions, t, annotations, i, "ground-truth", listing, missing)
                                 for t in ordered))
        else:
            targets.append(())
    images = Dataset(name=f"{CIRCO}-unlabeled2017", root=root_path, image_paths=tuple(paths),
                     labels=pd.DataFrame({"name": ids, "image_id": [int(i) for i in ids]}))
    return [QuerySet(benchmark=CIRCO, split=split, subset="", images=images, reference=np.asarray(reference),
                     captions=tuple(captions), targets=tuple(targets), gallery=np.arange(len(ids)),
                     exclude_reference=False, query_ids=tuple(query_ids),
                     info=pd.DataFrame({"shared_concept": concepts}))]
