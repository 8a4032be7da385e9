"""inshop: DeepFashion fine-grained annotations (Anno_fine: 50 categories, 26 attributes), 4,000 test images.

Layout: ``root/Anno_fine/{split}.txt`` (image paths relative to root, one per line), ``{split}_cate.txt``
(1-based index into list_category_cloth.txt per line), ``{split}_attr.txt`` (26 space-separated 0/1 flags per
line), ``list_category_cloth.txt`` and ``list_attr_cloth.txt`` (line 1: count, line 2: header, then
"name type" rows), plus the images under ``root/img/...``.

Labels: category (the category name; category_index keeps the raw line, which is what the authors used as the
label), and texture, fabric, fit, each the set flags of its own attribute group (texture = attributes 0-6,
fabric = 17-22, fit = 23-25) joined with "+", or "none" (each distinct pattern is one class, as for the
authors). The authors built these from the wrong variables (bug B1: their texture/fabric/fit runs re-used the
category labels); here each comes from its own group. texture_raw/fabric_raw/fit_raw keep the authors' string
slices ``line[:14]``, ``line[34:46]``, ``line[46:]``, which assume one-character flags and single spaces.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from indirect_core.data.datasets.core import Dataset, missing_dataset, resolve_root, shown
from indirect_core._util.validation import check_choice

INSHOP = "inshop"
SPLITS: tuple[str, ...] = ("test", "train", "val")
N_ATTRIBUTES = 26
ATTRIBUTE_GROUPS: dict[str, range] = {"texture": range(0, 7), "fabric": range(17, 23), "fit": range(23, 26)}
"""Attribute indices (0-based columns of the attr files) of each notion, as the protocol's slices."""
RAW_SLICES: dict[str, slice] = {"texture": slice(0, 14), "fabric": slice(34, 46), "fit": slice(46, None)}
"""The authors' character slices of an attr line for the same groups."""
NO_ATTRIBUTE = "none"
LAYOUT = ("root/Anno_fine/ with test.txt (image paths relative to root), test_cate.txt, test_attr.txt, "
          "list_category_cloth.txt and list_attr_cloth.txt, and the images they list (root/img/...)")
SOURCE = ("the DeepFashion page of MMLAB, CUHK (mmlab.ie.cuhk.edu.hk/projects/DeepFashion.html), "
          "'Category and Attribute Prediction Benchmark', its Anno_fine folder and img.zip")


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def read_name_list(path: Path) -> list[tuple[str, str]]:
    """(name, type) rows of list_category_cloth.txt / list_attr_cloth.txt (line 1 count, line 2 header)."""
    lines = _read_lines(path)
    rows = []
    for line in lines[2:]:
        if line.strip():
            parts = line.strip().rsplit(None, 1)
            rows.append((parts[0], parts[1] if len(parts) > 1 else ""))
    count = lines[0].strip() if lines else ""
    if not count.isdigit() or int(count) != len(rows):
        raise ValueError(f"{path.name} announces {count!r} rows on its first line but has {len(rows)}")
    return rows


def attribute_pattern(flags: list[str], names: list[str], group: range) -> str:
    """The names of the set flags ("1") of one attribute group joined with "+", or "none"."""
    chosen = [names[i] for i in group if flags[i] == "1"]
    return "+".join(chosen) if chosen else NO_ATTRIBUTE


def load_inshop(root: str | Path | None = None, split: str = "test") -> Dataset:
    """The images of one Anno_fine split in file order; labels category, texture, fabric, fit (+ raw columns)."""
    split = check_choice(f"dataset {INSHOP!r}: split", split, SPLITS)
    root_path = resolve_root(INSHOP, root)
    anno = root_path / "Anno_fine"
    files = {"images": anno / f"{split}.txt", "categories": anno / f"{split}_cate.txt",
             "attributes": anno / f"{split}_attr.txt", "category names": anno / "list_category_cloth.txt",
             "attribute names": anno / "list_attr_cloth.txt"}

    def missing(problem: str):
        return missing_dataset(INSHOP, root_path, problem, LAYOUT, SOURCE)

    if not root_path.is_dir():
        raise missing(f"the folder {root_path} does not exist")
    absent = [str(p) for p in files.values() if not p.is_file()]
    if absent:
        raise missing(f"annotation file(s) {', '.join(absent)} do not exist")
    try:
        categories = read_name_list(files["category names"])
        attribute_names = [n for n, _ in read_name_list(files["attribute names"])]
    except ValueError as exc:
        raise missing(str(exc)) from exc
    if len(attribute_names) != N_ATTRIBUTES:
        raise missing(f"{files['attribute names']} lists {len(attribute_names)} attributes, not {N_ATTRIBUTES}")
    images = [line.strip() for line in _read_lines(files["images"]) if line.strip()]
    category_lines = _read_lines(files["categories"])[:len(images)]
    attribute_lines = _read_lines(files["attributes"])[:len(images)]
    if not images or len(category_lines) != len(images) or len(attribute_lines) != len(images):
        raise missing(f"{files['images'].name} lists {len(images)} images but {files['categories'].name} has "
                      f"{len(category_lines)} and {files['attributes'].name} {len(attribute_lines)} lines")
    bad_categories = [i + 1 for i, c in enumerate(category_lines)
                      if not c.strip().isdigit() or not 1 <= int(c) <= len(categories)]
    bad_attributes = [i + 1 for i, a in enumerate(attribute_lines) if len(a.split()) != N_ATTRIBUTES]
    if bad_categories or bad_attributes:
        raise missing(f"malformed lines: {files['categories'].name} lines {shown(bad_categories) or 'none'} "
                      f"(need 1..{len(categories)}), {files['attributes'].name} lines "
                      f"{shown(bad_attributes) or 'none'} (need {N_ATTRIBUTES} flags)")
    paths = [root_path / p for p in images]
    absent_images = [p for p, path in zip(images, paths) if not path.is_file()]
    if absent_images:
        raise missing(f"{len(absent_images)} of {len(images)} images listed in {files['images'].name} are "
                      f"missing, e.g. {shown(absent_images)}")
    indices = [int(c) for c in category_lines]
    flags = [a.split() for a in attribute_lines]
    labels = pd.DataFrame({
        "image": images,
        "category": [categories[i - 1][0] for i in indices],
        **{group: [attribute_pattern(f, attribute_names, columns) for f in flags]
           for group, columns in ATTRIBUTE_GROUPS.items()},
        "category_index": [c.strip() for c in category_lines],
        "category_type": [categories[i - 1][1] for i in indices],
        **{f"{group}_raw": [a[cut] for a in attribute_lines] for group, cut in RAW_SLICES.items()},
    })
    return Dataset(name=INSHOP, root=root_path, image_paths=tuple(paths), labels=labels)
