"""cars196: Stanford Cars (16,185 images of 196 classes) with the zero-shot DML split used by the paper.

Layout (the standard "all images" download): ``root/car_ims/000001.jpg .. 016185.jpg`` and
``root/cars_annos.mat`` (struct array ``annotations`` with relative_im_path, bbox_x1..bbox_y2, class (1-based),
test; cell array ``class_names``). split="test" keeps classes 99-196 (8,131 images; the authors' ``id > 8054``),
"train" classes 1-98, "all" everything. Labels: class_name, manufacturer, body_type (derived from the class name,
see car_names), model, year, class_index (1-based, as in the .mat; the authors' CSV was 0-based) and image_id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from indirect_core.data.datasets.car_names import describe_car
from indirect_core.data.datasets.core import Dataset, missing_dataset, resolve_root, shown
from indirect_core._util.validation import check_choice

CARS196 = "cars196"
SPLITS: tuple[str, ...] = ("test", "train", "all")
FIRST_TEST_CLASS = 99
"""Zero-shot DML split: classes 1-98 train, 99-196 test (1-based class indices)."""
LAYOUT = ("root/cars_annos.mat (struct array 'annotations' with fields relative_im_path, class, test; "
          "cell array 'class_names') and root/car_ims/000001.jpg .. 016185.jpg")
SOURCE = ("the Stanford Cars page of the Stanford AI Lab (ai.stanford.edu/~jkrause/cars/car_dataset.html, "
          "files car_ims.tgz and cars_annos.mat) or one of its mirrors")


def _scalar(value: object) -> object:
    """Unwrap the 1x1 arrays scipy.io.loadmat puts around every struct field value."""
    while isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    return value


def read_cars_annos(mat_path: Path) -> tuple[pd.DataFrame, list[str]]:
    """(table of relative_im_path, class, test per image; the class names) from cars_annos.mat."""
    from scipy.io import loadmat

    mat = loadmat(str(mat_path))
    annotations = np.asarray(mat["annotations"]).reshape(-1)
    fields = annotations.dtype.names or ()
    absent = [f for f in ("relative_im_path", "class") if f not in fields]
    if absent:
        raise KeyError(f"annotations lacks field(s) {', '.join(absent)} (has {', '.join(fields)})")
    table = pd.DataFrame({
        "relative_im_path": [str(_scalar(a["relative_im_path"])) for a in annotations],
        "class": [int(_scalar(a["class"])) for a in annotations],
        "test": [int(_scalar(a["test"])) if "test" in fields else -1 for a in annotations],
    })
    names = [str(_scalar(n)) for n in np.asarray(mat["class_names"]).reshape(-1)]
    return table, names


def load_cars196(root: str | Path | None = None, split: str = "test") -> Dataset:
    """Stanford Cars images of the chosen split, sorted by file name; labels per class name (see module doc)."""
    split = check_choice(f"dataset {CARS196!r}: split", split, SPLITS)
    root_path = resolve_root(CARS196, root)
    mat_path = root_path / "cars_annos.mat"

    def missing(problem: str):
        return missing_dataset(CARS196, root_path, problem, LAYOUT, SOURCE)

    if not root_path.is_dir():
        raise missing(f"the folder {root_path} does not exist")
    if not mat_path.is_file():
        raise missing(f"the annotation file {mat_path} does not exist")
    if not (root_path / "car_ims").is_dir():
        raise missing(f"the image folder {root_path / 'car_ims'} does not exist")
    from scipy.io.matlab import MatReadError

    try:
        table, class_names = read_cars_annos(mat_path)
    except (MatReadError, KeyError, ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise missing(f"cannot read {mat_path} ({type(exc).__name__}: {exc})") from exc
    bad = table.loc[(table["class"] < 1) | (table["class"] > len(class_names)), "class"]
    if len(bad):
        raise missing(f"{mat_path} has class indices outside 1..{len(class_names)}, e.g. {shown(bad.tolist())}")
    if split == "test":
        table = table[table["class"] >= FIRST_TEST_CLASS]
    elif split == "train":
        table = table[table["class"] < FIRST_TEST_CLASS]
    table = table.sort_values("relative_im_path", kind="stable").reset_index(drop=True)
    if table.empty:
        raise missing(f"{mat_path} lists no images of split {split!r}")
    paths = [root_path / p for p in table["relative_im_path"]]
    absent = [p.name for p in paths if not p.is_file()]
    if absent:
        raise missing(f"{len(absent)} of {len(paths)} images of split {split!r} listed in {mat_path.name} are "
                      f"missing, e.g. {shown(absent)}")
    names = [class_names[c - 1] for c in table["class"]]
    per_class = {n: describe_car(n) for n in set(names)}
    labels = pd.DataFrame({
        "class_name": names,
        "manufacturer": [per_class[n]["manufacturer"] for n in names],
        "body_type": [per_class[n]["body_type"] for n in names],
        "model": [per_class[n]["model"] for n in names],
        "year": [per_class[n]["year"] for n in names],
        "class_index": table["class"].astype(int).tolist(),
        "image_id": [int(p.stem) if p.stem.isdigit() else p.stem for p in paths],
    })
    return Dataset(name=CARS196, root=root_path, image_paths=tuple(paths), labels=labels)
