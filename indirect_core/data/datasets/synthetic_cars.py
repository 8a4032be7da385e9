"""synthetic-cars: the authors' 3D car renders (DML-analysis "3D_cars"), first 1000 frames as in the paper.

Layout: ``root/cars.csv`` (one row per frame: frame, model, color_hue/sat/val, bg_color_hue/sat/val, ...)
and ``root/cars/{frame}.png`` (frame = the integer in the CSV; zero-padded names are found too).

Colour labels follow the authors' ``hsv_to_name`` (InDiReCT utils.py), implemented in hsv_to_colour_name:
``rgb = colorsys.hsv_to_rgb((hue + 0.5) % 1, 0.5 * sat, 0.5 * val)``, each channel ``int(255 * x)``
(truncated, so every channel is <= 127); then the exact CSS3 name if the triple is one (webcolors'
``rgb_to_name``, which can give non-CSS2.1 names such as dimgray or darkslategray, bug B9), else the nearest of
the 17 CSS2.1 names by squared RGB distance, where on a tie the later name in webcolors' CSS21 order
(orange, aqua, black, blue, fuchsia, green, gray, lime, maroon, navy, olive, purple, red, silver, teal,
white, yellow) wins, as the authors' dict-keyed-by-distance did. Only 1000 of the 100,000 frames are used (B12).
"""

from __future__ import annotations

import colorsys
import os
from pathlib import Path

import pandas as pd

from indirect_core.data.datasets.core import Dataset, missing_dataset, resolve_root, shown
from indirect_core.data.css_colours import rgb_to_colour_name
from indirect_core._util.validation import check_optional_int

SYNTHETIC_CARS = "synthetic-cars"
LABEL_COLUMNS: tuple[str, ...] = ("car_model", "car_colour", "background_colour")
CSV_COLUMNS: tuple[str, ...] = ("frame", "model", "color_hue", "color_sat", "color_val",
                                "bg_color_hue", "bg_color_sat", "bg_color_val")
LAYOUT = ("root/cars.csv (columns " + ", ".join(CSV_COLUMNS) + ") and root/cars/{frame}.png "
          "(e.g. root/cars/1.png), the contents of '3D cars dataset.zip'")
SOURCE = ("the DML-analysis repository by Konstantin Kobs (github.com/konstantinkobs/DML-analysis, "
          "3D_cars/README.md links the download of the rendered dataset)")


def hsv_to_rgb_255(h: float, s: float, v: float) -> tuple[int, int, int]:
    """The authors' colour transform: hue shifted by 0.5, saturation and value halved, truncated to 0..255."""
    rgb = colorsys.hsv_to_rgb((float(h) + 0.5) % 1, 0.5 * float(s), 0.5 * float(v))
    return tuple(int(255 * x) for x in rgb)  # type: ignore[return-value]


def hsv_to_colour_name(h: float, s: float, v: float) -> str:
    """Colour name of a CSV (hue, sat, value) triple exactly as the authors derive it (see module docstring)."""
    return rgb_to_colour_name(hsv_to_rgb_255(h, s, v))


def _frame_images(root: Path, frames: list[int]) -> tuple[list[Path], list[int]]:
    """Image path per frame (cars/{frame}.png, else any image file whose stem is that integer); and missing frames."""
    folder = root / "cars"
    paths = [folder / f"{f}.png" for f in frames]
    if all(p.is_file() for p in paths):
        return paths, []
    by_number: dict[int, Path] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            stem, _, _ = entry.name.rpartition(".")
            if stem.isdigit() and entry.is_file():
                by_number.setdefault(int(stem), Path(entry.path))
    found = [by_number.get(f) for f in frames]
    return [p for p in found if p is not None], [f for f, p in zip(frames, found) if p is None]


def load_synthetic_cars(root: str | Path | None = None, n_frames: int | None = 1000) -> Dataset:
    """Frames 1..n_frames (all if None) sorted by frame; labels car_model, car_colour, background_colour."""
    check_optional_int(f"dataset {SYNTHETIC_CARS!r}: n_frames", n_frames, hint="the paper uses 1000")
    root_path = resolve_root(SYNTHETIC_CARS, root)
    csv_path = root_path / "cars.csv"

    def missing(problem: str):
        return missing_dataset(SYNTHETIC_CARS, root_path, problem, LAYOUT, SOURCE)

    if not root_path.is_dir():
        raise missing(f"the folder {root_path} does not exist")
    if not csv_path.is_file():
        raise missing(f"{csv_path} does not exist")
    if not (root_path / "cars").is_dir():
        raise missing(f"the image folder {root_path / 'cars'} does not exist")
    try:
        table = pd.read_csv(csv_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise missing(f"cannot parse {csv_path} ({exc})") from exc
    absent = [c for c in CSV_COLUMNS if c not in table.columns]
    if absent:
        raise missing(f"{csv_path} lacks column(s) {', '.join(absent)} (has {', '.join(map(str, table.columns))})")
    frames = pd.to_numeric(table["frame"], errors="coerce")
    if frames.isna().any() or (frames != frames.round()).any():
        raise missing(f"{csv_path} has non-integer frame values, e.g. "
                      f"{shown(table.loc[frames.isna() | (frames != frames.round()), 'frame'].tolist())}")
    table = table.assign(frame=frames.astype(int))
    if n_frames is not None:
        table = table[table["frame"] <= n_frames]
    table = table.sort_values("frame", kind="stable").reset_index(drop=True)
    if table.empty:
        raise missing(f"{csv_path} has no rows with frame <= {n_frames}")
    paths, absent_frames = _frame_images(root_path, table["frame"].tolist())
    if absent_frames:
        raise missing(f"{len(absent_frames)} of {len(table)} frame images are missing from {root_path / 'cars'}, "
                      f"e.g. frames {shown(absent_frames)}")
    labels = pd.DataFrame({
        "car_model": table["model"].astype(str),
        "car_colour": [hsv_to_colour_name(*t) for t in
                       table[["color_hue", "color_sat", "color_val"]].itertuples(index=False)],
        "background_colour": [hsv_to_colour_name(*t) for t in
                              table[["bg_color_hue", "bg_color_sat", "bg_color_val"]].itertuples(index=False)],
    })
    labels = pd.concat([labels, table.drop(columns=["model"])], axis=1)
    return Dataset(name=SYNTHETIC_CARS, root=root_path, image_paths=tuple(paths), labels=labels)
