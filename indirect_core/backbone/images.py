"""Reading an image file as the 8-bit RGB picture that every part of the package sees.

Embedding (``backbone``), the explorer's thumbnails, figures and attribution all read files through
``read_rgb``, so an image is indexed exactly as it is shown. One rule per kind of file:

* EXIF orientation (tags 2-8) is applied first, so a photo is embedded the way a viewer shows it.
* 16-bit pixels (modes ``I;16``, ``I;16B``, ``I;16L``, ``I;16N``, and ``I``, read as 0-65535 and clipped) keep
  their high byte (``v >> 8``), as Pillow does for 16-bit colour PNGs: the same picture in 16-bit grey and
  16-bit colour gives the same pixels. Float pixels (``F``) are read as 0-1 (clipped, NaN as 0) and rounded.
* Transparency (``RGBA``, ``LA``, ``PA``, ``RGBa``, ``La``, or a palette/grey/RGB image with a transparent colour)
  is composited on ``BACKGROUND`` (white), rounded to the nearest integer.
* Palette, 1-bit, CMYK (Pillow's conversion, no colour profile), YCbCr and the other modes Pillow converts
  go through ``Image.convert("RGB")``.
* Truncated or damaged files are **rejected** with their reason (Pillow's ``LOAD_TRUNCATED_IMAGES`` is not
  changed: a half-written file is not indexed as a half-grey picture).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .._util.errors import UnreadableImageError
from .._util.progress import progress_bar

BACKGROUND: tuple[int, int, int] = (255, 255, 255)
"""Colour under transparent pixels (white, like a browser page)."""

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
"""Integer modes read as 0-65535 and reduced to 8 bits by their high byte."""
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
"""Modes with an alpha channel, composited on ``BACKGROUND``."""


def read_rgb(path: str | Path) -> Image.Image:
    """The file decoded in full as an 8-bit RGB image (rules above), or ``UnreadableImageError`` naming why."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise UnreadableImageError(path, "file does not exist") from None
    if size == 0:
        raise UnreadableImageError(path, "empty file (0 bytes)")
    try:
        with Image.open(path) as opened:
            opened.load()
            return to_rgb(opened)
    except UnidentifiedImageError:
        raise UnreadableImageError(path, "not an image format Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise UnreadableImageError(path, f"too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:  # Pillow reports truncated and damaged data this way
        raise UnreadableImageError(path, f"truncated or damaged ({type(error).__name__}: {error})") from None


def unreadable_reason(path: str | Path) -> str | None:
    """Why ``read_rgb`` refuses the file, or None when it reads (decodes the whole file)."""
    try:
        read_rgb(path)
    except UnreadableImageError as error:
        return error.reason
    return None


def find_unreadable(paths: Sequence[str | Path], progress: bool = False) -> dict[int, str]:
    """{index: reason} of the files ``read_rgb`` refuses; decodes every file, one thread per core (Pillow
    decodes without holding the GIL)."""
    bar = progress_bar(total=len(paths), desc="reading every image", unit="img", disable=not progress, leave=False)
    found: dict[int, str] = {}
    with bar, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for index, reason in enumerate(pool.map(unreadable_reason, paths)):
            if reason is not None:
                found[index] = reason
            bar.update(1)
    return found


def to_rgb(image: Image.Image) -> Image.Image:
    """An opened image as 8-bit RGB, orientation applied: 16-bit and float scaled, transparency on white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        return Image.fromarray((values >> 8).astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
        return Image.fromarray(np.rint(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8), "L").convert("RGB")
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        return _on_background(image.convert("RGBA"))
    return image.convert("RGB")


def _on_background(image: Image.Image) -> Image.Image:
    """RGBA composited on ``BACKGROUND``: (colour * alpha + background * (255 - alpha)) / 255, rounded."""
    pixels = np.asarray(image, dtype=np.int64)
    alpha = pixels[..., 3:4]
    mixed = (pixels[..., :3] * alpha + np.asarray(BACKGROUND, dtype=np.int64) * (255 - alpha) + 127) // 255
    return Image.fromarray(mixed.astype(np.uint8), "RGB")
