"""GeneCIS attribute crops: the annotated Visual Genome box cut out as GeneCIS's own loader does, stored once.

GeneCIS's attribute loader (``VAWDataset.load_cropped_image``, the same in LinCIR's ``eval_genecis`` branch)
crops in memory on every read: with ``DILATION = 0.7`` the left/top edges move out by 0.7 x the box size,
the crop is ``(1 + 0.7) x`` the box size from there (so it ends at the box's right/bottom edge unless clipped),
clipped to the image, then padded with black to a centred square (``PAD_CROP = True``). The embedding cache
reads image files, so each crop is written once as a lossless PNG (temp file + rename), keyed by image id,
box and crop mode: a rerun reuses it, a deleted one is made again. ``mode="box"`` cuts the annotated box only.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image, UnidentifiedImageError

from ..._util.atomic import atomic_path
from ...backbone import default_cache_dir
from ..._util.errors import DatasetError
from ..._util.progress import progress_bar

CROP_MODES: tuple[str, ...] = ("official", "box")
"""``official``: GeneCIS's dilated, square-padded crop; ``box``: exactly the annotated box."""
DILATION = 0.7
"""GeneCIS's ``DILATION``: how far (in box widths/heights) the crop reaches left of and above the box."""


@dataclass(frozen=True)
class CropSpec:
    """One crop to make: a source image and a Visual Genome box ``(x, y, width, height)`` in pixels."""

    source: Path
    image_id: str
    box: tuple[float, float, float, float]

    @property
    def key(self) -> str:
        """File-name key: image id and box, e.g. ``2375129_14_30_120_88``."""
        return "_".join([self.image_id, *(_number(v) for v in self.box)])


def _number(value: float) -> str:
    """A box coordinate as text: ``12`` for 12.0, ``12.5`` for 12.5."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def crop_region(box: Sequence[float], width: int, height: int, mode: str = "official") -> tuple[int, int, int, int]:
    """The pixel rectangle ``(left, top, right, bottom)`` cut from a ``width`` x ``height`` image.

    Coordinates are rounded as Pillow's ``Image.crop`` rounds float boxes (Python ``round``), so ``official``
    gives the pixels GeneCIS's loader gives.
    """
    x, y, w, h = (float(v) for v in box)
    if mode == "official":
        left, top = max(0.0, x - DILATION * w), max(0.0, y - DILATION * h)
        right, bottom = min(width, left + (1 + DILATION) * w), min(height, top + (1 + DILATION) * h)
    else:
        left, top, right, bottom = max(0.0, x), max(0.0, y), min(width, x + w), min(height, y + h)
    return round(left), round(top), round(right), round(bottom)


def pad_to_square(image: Image.Image) -> Image.Image:
    """The image centred on a black square whose side is its longer side (offset rounded down)."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), 0 if image.mode == "L" else (0, 0, 0))
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def crop_image(image: Image.Image, box: Sequence[float], mode: str = "official") -> Image.Image:
    """One crop of ``image`` (greyscale stays greyscale, other modes become RGB); square-padded in official mode."""
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    left, top, right, bottom = crop_region(box, image.width, image.height, mode)
    if right <= left or bottom <= top:
        raise ValueError(f"box {tuple(box)} leaves no pixels of a {image.width}x{image.height} image")
    region = image.crop((left, top, right, bottom))
    return pad_to_square(region) if mode == "official" else region


def crop_folder(cache_dir: str | Path | None, mode: str) -> Path:
    """Where the crops of one mode live: ``<cache_dir>/crops/genecis/<mode>`` (default cache: data/cache)."""
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / "crops" / "genecis" / mode


def materialise_crops(specs: Sequence[CropSpec], folder: Path, mode: str = "official",
                      progress: bool = True) -> list[Path]:
    """The PNG path of every spec in ``folder``; crops not there yet are made (each source image opened once)."""
    paths = [folder / f"{spec.key}.png" for spec in specs]
    todo: dict[Path, list[tuple[CropSpec, Path]]] = defaultdict(list)
    for spec, path in zip(specs, paths):
        if not path.is_file():
            todo[spec.source].append((spec, path))
    if not todo:
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    bar = progress_bar(total=sum(len(v) for v in todo.values()), unit="crop", disable=not progress,
                       desc=f"cropping GeneCIS boxes ({mode})")
    with bar:
        for source, items in todo.items():
            try:
                with Image.open(source) as opened:
                    opened.load()
                    image = opened.copy()
            except (OSError, UnidentifiedImageError) as exc:
                raise DatasetError(f"cannot read image {source} for a GeneCIS crop ({exc}): restore the file "
                                   f"(the Visual Genome images of the attribute tasks)") from exc
            for spec, path in items:
                if path.is_file():      # the same box twice in one batch
                    continue
                try:
                    crop = crop_image(image, spec.box, mode)
                except ValueError as exc:
                    raise DatasetError(f"GeneCIS crop of {source}: {exc}; check the instance_bbox of image "
                                       f"{spec.image_id} in the task file") from exc
                with atomic_path(path) as tmp:
                    crop.save(tmp, format="PNG")
                bar.update(1)
    return paths
