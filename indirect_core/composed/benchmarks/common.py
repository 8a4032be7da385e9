"""What the public benchmark loaders share: the one "benchmark missing" message, JSON reading that names the
file at fault, the choice between the SEARLE/LinCIR and the Pic2Word layout, and the image-existence check.

Nothing here downloads anything; every problem becomes one ``DatasetError`` (data) or ``ConfigError``
(parameter) whose message names the benchmark, the expected files and where the benchmark is published.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ...data.datasets.core import DATA_DIR_ENV, shown
from ..._util.errors import DatasetError
from ..._util.validation import check_choice

SEARLE = "searle"
"""The layout of SEARLE's and LinCIR's ``--dataset-path`` (CIRR, FashionIQ, CIRCO)."""
PIC2WORD = "pic2word"
"""The layout of Pic2Word's ``./data`` folder (CIRR, FashionIQ only)."""
AUTO = "auto"


@dataclass(frozen=True)
class Missing:
    """Builds the one error for a missing or incomplete benchmark: problem, expected files, publisher, fix."""

    benchmark: str
    root: Path
    expected: str       # the expected files, both layouts where there are two
    source: str         # where the benchmark is published

    def __call__(self, problem: str) -> DatasetError:
        return DatasetError(
            f"benchmark {self.benchmark!r} is missing or incomplete at {self.root}: {problem}. "
            f"Expected files: {self.expected}. "
            f"Where to get it: {self.source}. "
            f"Nothing is downloaded automatically: put the files in data/{self.benchmark}/ (the default root), "
            f"or in ${DATA_DIR_ENV}/{self.benchmark}/, or pass root=<folder> to load_benchmark."
        )


def read_json(path: Path, missing: Missing) -> Any:
    """The parsed JSON file at ``path``; a missing or unparsable file is reported as an incomplete benchmark."""
    if not path.is_file():
        raise missing(f"the file {path} does not exist")
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise missing(f"the file {path} cannot be read as JSON ({exc})") from exc


def json_list(path: Path, missing: Missing) -> list:
    """The JSON array stored at ``path`` (annotation files are arrays of records)."""
    data = read_json(path, missing)
    if not isinstance(data, list):
        raise missing(f"the file {path} holds a JSON {type(data).__name__}, not the expected array")
    return data


def field(record: object, key: str, path: Path, index: int, missing: Missing) -> Any:
    """``record[key]``, or an error naming the file, the entry number and the absent field."""
    if not isinstance(record, Mapping) or key not in record:
        raise missing(f"entry {index} of {path} has no {key!r} field")
    return record[key]


def choose_layout(benchmark: str, layout: str, annotation_files: Mapping[str, Sequence[Path]],
                  missing: Missing, tie_break: Callable[[list[str]], str] | None = None) -> str:
    """The layout to read: an explicit one as given, else the one whose annotation files are all present.

    When several are present (e.g. ``cirr/`` and ``CIRR/`` on a case-insensitive file system), ``tie_break``
    picks one, else the first in ``annotation_files`` order.
    """
    check_choice(f"benchmark {benchmark!r}: layout", layout, (AUTO, *annotation_files))
    if not missing.root.is_dir():
        raise missing(f"the folder {missing.root} does not exist")
    if layout != AUTO:
        return layout
    present = [name for name, files in annotation_files.items() if all(Path(f).is_file() for f in files)]
    if not present:
        absent = [str(next(f for f in files if not Path(f).is_file())) for files in annotation_files.values()]
        found = f"{absent[0]} does not exist" if len(absent) == 1 else f"neither {' nor '.join(absent)} exists"
        raise missing(f"the annotation files are not there ({found})")
    if len(present) > 1 and tie_break is not None:
        return tie_break(present)
    return present[0]


def require_images(paths: Sequence[Path], what: str, missing: Missing) -> None:
    """Fail with one message if any of ``paths`` is not a file (a stat per image; no image is opened)."""
    absent = [p for p in paths if not os.path.isfile(p)]
    if absent:
        raise missing(f"{len(absent)} of the {len(paths)} {what} are missing, e.g. {shown(absent)}")


def index_of(names: Mapping[str, int], name: object, path: Path, index: int, role: str,
             listing: Path | str, missing: Missing) -> int:
    """The image index of ``name``, or an error saying which entry names an image the listing lacks."""
    key = str(name)
    if key not in names:
        raise missing(f"entry {index} of {path} names {role} image {key!r}, which {listing} does not list")
    return names[key]


def unique_names(names: Sequence[str], path: Path | str, missing: Missing) -> dict[str, int]:
    """Name -> position for an image listing; a listing that repeats a name is reported (it would skew recall)."""
    positions: dict[str, int] = {}
    repeated = []
    for position, name in enumerate(names):
        if name in positions:
            repeated.append(name)
        positions.setdefault(name, position)
    if repeated:
        raise missing(f"{path} lists {len(repeated)} image(s) twice, e.g. {shown(repeated)}")
    return positions
