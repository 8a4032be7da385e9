"""cub200: CUB-200-2011 birds; the zero-shot split keeps classes 101-200 (all 5,924 test images by default).

Layout: ``root/images/NNN.Class_Name/Class_Name_NNNN_NNNNNN.jpg`` (200 class folders, as in CUB_200_2011.tgz).
Labels: species, the authors' label from the file stem (``" ".join(stem.split("_")[:-2])``, e.g. "Black
Footed Albatross"); class_name from the folder ("Black_footed_Albatross" -> "Black footed Albatross");
class_index (1..200) and image_id (the stem).

authors_filter=True reproduces bug B2: the authors kept only files whose stem starts, case-sensitively, with
one of the split's folder names after "NNN." (checked over all images, as their code did). File stems
capitalise every word while 25 test folders do not ("White_necked_Raven" vs "White_Necked_Raven_0001_..."),
so those classes vanish: 4,462 instead of 5,924 test images.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from indirect_core.data.datasets.core import Dataset, is_image, missing_dataset, resolve_root, shown
from indirect_core._util.validation import check_choice

CUB200 = "cub200"
SPLITS: tuple[str, ...] = ("test", "train", "all")
N_CLASSES = 200
FIRST_TEST_CLASS = 101
_FOLDER = re.compile(r"^(\d{3})\.(.+)$")
LAYOUT = ("root/images/ with the 200 class folders 001.Black_footed_Albatross .. 200.Common_Yellowthroat, "
          "each holding its .jpg images (the images/ folder of CUB_200_2011.tgz)")
SOURCE = ("the Caltech Vision Lab page of Caltech-UCSD Birds-200-2011 (www.vision.caltech.edu/datasets/cub_200_2011/, "
          "file CUB_200_2011.tgz)")


def species_from_stem(stem: str) -> str:
    """The authors' label: drop the last two "_" parts (image number and id), join the rest with spaces."""
    return " ".join(stem.split("_")[:-2])


def class_name_from_folder(folder: str) -> str:
    """"Black footed Albatross" from "001.Black_footed_Albatross"."""
    match = _FOLDER.match(folder)
    return (match.group(2) if match else folder).replace("_", " ")


def load_cub200(root: str | Path | None = None, split: str = "test", authors_filter: bool = False) -> Dataset:
    """Images of the split's classes sorted by folder then file; authors_filter=True applies bug B2's filter."""
    split = check_choice(f"dataset {CUB200!r}: split", split, SPLITS)
    root_path = resolve_root(CUB200, root)
    images_dir = root_path / "images"

    def missing(problem: str):
        return missing_dataset(CUB200, root_path, problem, LAYOUT, SOURCE)

    if not root_path.is_dir():
        raise missing(f"the folder {root_path} does not exist")
    if not images_dir.is_dir():
        raise missing(f"the image folder {images_dir} does not exist")
    folders = sorted(p for p in images_dir.iterdir() if p.is_dir() and _FOLDER.match(p.name))
    if len(folders) != N_CLASSES:
        raise missing(f"{images_dir} holds {len(folders)} class folders named NNN.Class_Name, not {N_CLASSES}")
    chosen = {"test": folders[FIRST_TEST_CLASS - 1:], "train": folders[:FIRST_TEST_CLASS - 1], "all": folders}[split]
    files = {folder: sorted(p for p in folder.iterdir() if is_image(p)) for folder in folders}
    empty = [f.name for f in chosen if not files[f]]
    if empty:
        raise missing(f"{len(empty)} class folder(s) hold no images, e.g. {shown(empty)}")
    if authors_filter:
        prefixes = tuple(_FOLDER.match(f.name).group(2) for f in chosen)
        selected = [(f, p) for f in folders for p in files[f] if p.stem.startswith(prefixes)]
    else:
        selected = [(f, p) for f in chosen for p in files[f]]
    labels = pd.DataFrame({
        "species": [species_from_stem(p.stem) for _, p in selected],
        "class_name": [class_name_from_folder(f.name) for f, _ in selected],
        "class_index": [int(_FOLDER.match(f.name).group(1)) for f, _ in selected],
        "image_id": [p.stem for _, p in selected],
    })
    return Dataset(name=CUB200, root=root_path, image_paths=tuple(p for _, p in selected), labels=labels)
