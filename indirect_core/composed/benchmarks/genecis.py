"""GeneCIS (Vaze et al., CVPR 2023): conditional similarity with a small gallery per query; four tasks.

A task file ``genecis/<task>.json`` is an array of ``{"reference": image, "target": image, "gallery": [image,
...], "condition": text}``. Attribute tasks (focus_attribute, change_attribute) name Visual Genome images as
``{"image_id", "instance_bbox": [x, y, w, h]}`` and are evaluated on crops of those boxes (see ``crops``);
object tasks (focus_object, change_object) name COCO val2017 images as ``{"val_image_id"}``, used whole.
Each task is one QuerySet with ``gallery=None`` and per-query ``candidates`` = (target, *gallery), the target
first as GeneCIS's loader stacks them (its target rank is 0 by construction); the condition is the caption.
Every gallery slot is kept: an image a query's gallery repeats becomes a copy ``<name>#2`` (same file), so the
candidates stay distinct images and a repeated distractor still takes two places above a lower target.
``info["target_repeated"]`` flags queries whose gallery repeats the target image itself (a certain tie).
"""
from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ...data.datasets import Dataset
from ...data.datasets.core import resolve_root
from ..._util.errors import ConfigError
from ..._util.validation import check_choice
from ..queries import QuerySet
from .common import Missing, choose_layout, field, json_list, require_images
from .crops import CROP_MODES, CropSpec, crop_folder, materialise_crops

GENECIS = "genecis"
TASKS: tuple[str, ...] = ("focus_attribute", "change_attribute", "focus_object", "change_object")
SPLITS: tuple[str, ...] = ("val",)
LAYOUTS: tuple[str, ...] = ("official",)
SOURCE = ("the task files genecis/{focus,change}_{attribute,object}.json from github.com/facebookresearch/genecis "
          "(see its DOWNLOAD.md); the Visual Genome 1.2 images (visualgenome.org, folders VG_100K and VG_100K_2 "
          "merged into one folder VG_100K_all) for the attribute tasks; the COCO val2017 images "
          "(cocodataset.org/#download, val2017.zip) for the object tasks")


def expected_files(tasks: Sequence[str] = TASKS) -> str:
    """The task files and image folders, for the missing-data message."""
    return (f"GeneCIS layout (as LinCIR's eval_genecis branch reads it): "
            f"<root>/genecis/{{{','.join(tasks)}}}.json; the Visual Genome images at "
            f"<root>/VG_100K_all/<image_id>.jpg (or vg_root=<folder>) for the attribute tasks; the COCO val2017 "
            f"images at <root>/val2017/<val_image_id as 12 digits>.jpg (or coco_root=<folder>) for the object tasks")


@dataclass
class TaskPlan:
    """One task read from its file: unique images (first-appearance order) and the queries as image indices."""

    task: str
    names: list[str] = dataclass_field(default_factory=list)
    sources: list[Path] = dataclass_field(default_factory=list)
    crops: list[CropSpec | None] = dataclass_field(default_factory=list)
    reference: list[int] = dataclass_field(default_factory=list)
    captions: list[tuple[str, ...]] = dataclass_field(default_factory=list)
    candidates: list[tuple[int, ...]] = dataclass_field(default_factory=list)
    target_repeated: list[bool] = dataclass_field(default_factory=list)

    def add(self, name: str, source: Path, crop: CropSpec | None) -> int:
        """The index of image ``name``, appended on first sight."""
        if name not in self._positions:
            self._positions[name] = len(self.names)
            self.names.append(name)
            self.sources.append(source)
            self.crops.append(crop)
        return self._positions[name]

    def slot(self, index: int, seen: dict[str, int]) -> int:
        """Image ``index`` as one slot of a query's gallery; its k-th repeat in that gallery is the copy
        ``<name>#k`` (same file), so every slot is a distinct candidate, as the ranking requires."""
        name = self.names[index]
        seen[name] = seen.get(name, 0) + 1
        if seen[name] == 1:
            return index
        return self.add(f"{name}#{seen[name]}", self.sources[index], self.crops[index])

    def __post_init__(self) -> None:
        self._positions: dict[str, int] = {}


def plan_genecis(root: str | Path | None = None, split: str = "val", layout: str = "auto",
                 tasks: Sequence[str] = TASKS, vg_root: str | Path | None = None,
                 coco_root: str | Path | None = None) -> list[TaskPlan]:
    """Read and check the task files and that every source image exists; makes no crop."""
    check_choice(f"benchmark {GENECIS!r}: split", split, SPLITS)
    if isinstance(tasks, str) or not tasks:
        raise ConfigError(f"benchmark {GENECIS!r}: tasks={tasks!r} must be a non-empty list of {', '.join(TASKS)}")
    tasks = tuple(check_choice(f"benchmark {GENECIS!r}: tasks", t, TASKS) for t in tasks)
    root_path = resolve_root(GENECIS, root)
    missing = Missing(GENECIS, root_path, expected_files(tasks), SOURCE)
    files = {task: root_path / "genecis" / f"{task}.json" for task in tasks}
    choose_layout(GENECIS, layout, {"official": list(files.values())}, missing)
    vg = Path(vg_root).absolute() if vg_root is not None else root_path / "VG_100K_all"
    coco = Path(coco_root).absolute() if coco_root is not None else root_path / "val2017"
    plans = []
    for task in tasks:
        folder = vg if task.endswith("attribute") else coco
        plan = _plan_task(task, files[task], folder, missing)
        require_images(sorted(set(plan.sources)), f"images of {files[task].name} in {folder}", missing)
        plans.append(plan)
    return plans


def _plan_task(task: str, path: Path, folder: Path, missing: Missing) -> TaskPlan:
    """One task file as a plan; attribute images become crop specs, object images file names."""
    records = json_list(path, missing)
    if not records:
        raise missing(f"{path} holds no queries")
    plan = TaskPlan(task)
    attribute = task.endswith("attribute")

    def image(entry: object, i: int) -> int:
        if attribute:
            image_id = str(field(entry, "image_id", path, i, missing))
            box = field(entry, "instance_bbox", path, i, missing)
            if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, (int, float)) for v in box):
                raise missing(f"entry {i} of {path} has instance_bbox {box!r}, not [x, y, width, height]")
            spec = CropSpec(folder / f"{image_id}.jpg", image_id, tuple(float(v) for v in box))
            return plan.add(spec.key, spec.source, spec)
        image_id = field(entry, "val_image_id", path, i, missing)
        if not isinstance(image_id, int):
            raise missing(f"entry {i} of {path} has val_image_id {image_id!r}, not an integer COCO id")
        return plan.add(str(image_id), folder / f"{image_id:012d}.jpg", None)

    for i, record in enumerate(records):
        gallery = field(record, "gallery", path, i, missing)
        if not isinstance(gallery, list) or not gallery:
            raise missing(f"entry {i} of {path} has no gallery images")
        plan.reference.append(image(field(record, "reference", path, i, missing), i))
        seen: dict[str, int] = {}
        slots = [plan.slot(image(entry, i), seen)
                 for entry in (field(record, "target", path, i, missing), *gallery)]
        plan.candidates.append(tuple(slots))
        plan.target_repeated.append(seen[plan.names[slots[0]]] > 1)
        plan.captions.append((str(field(record, "condition", path, i, missing)),))
    return plan


def load_genecis(root: str | Path | None = None, split: str = "val", layout: str = "auto",
                 tasks: Sequence[str] = TASKS, vg_root: str | Path | None = None,
                 coco_root: str | Path | None = None, cache_dir: str | Path | None = None,
                 crop: str = "official", progress: bool = True) -> list[QuerySet]:
    """One QuerySet per task; attribute crops are made once under ``<cache_dir>/crops/genecis/<crop>``."""
    crop = check_choice(f"benchmark {GENECIS!r}: crop", crop, CROP_MODES)
    plans = plan_genecis(root, split, layout, tasks, vg_root, coco_root)
    query_sets = []
    for plan in plans:
        if plan.task.endswith("attribute"):
            folder = crop_folder(cache_dir, crop).absolute()
            paths = materialise_crops(plan.crops, folder, crop, progress=progress)
            labels = pd.DataFrame({"name": plan.names, "image_id": [c.image_id for c in plan.crops],
                                   "box": [",".join(str(v) for v in c.box) for c in plan.crops]})
            name = f"{GENECIS}-{plan.task}-{crop}"
        else:
            folder = plan.sources[0].parent
            paths = plan.sources
            labels = pd.DataFrame({"name": plan.names, "image_id": [int(n.split("#")[0]) for n in plan.names]})
            name = f"{GENECIS}-{plan.task}"
        images = Dataset(name=name, root=folder, image_paths=tuple(paths), labels=labels)
        query_sets.append(QuerySet(
            benchmark=GENECIS, split="val", subset=plan.task, images=images, reference=np.asarray(plan.reference),
            captions=tuple(plan.captions), targets=tuple((c[0],) for c in plan.candidates), gallery=None,
            candidates=tuple(plan.candidates), exclude_reference=False,
            query_ids=tuple(str(i) for i in range(len(plan.reference))),
            info=pd.DataFrame({"target_repeated": plan.target_repeated})))
    return query_sets
