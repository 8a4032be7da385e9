"""Synthetic Shapes: the embedded default dataset, one flat-coloured shape per image, drawn with PIL.

It mirrors the paper's Synthetic Cars: three label factors (shape, object colour, background
colour) and nuisance factors (size, position, rotation), all drawn independently from one seed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from indirect_core.data.css_colours import CSS21_NAMES_TO_HEX
from indirect_core._util.errors import ConfigError
from indirect_core._util.validation import check_int
from indirect_core.data.generated import generate_folder, read_generation  # noqa: F401 (read_generation: public here too)

FORMAT_VERSION = 1
"""Bumped whenever the drawing or file layout changes, so stale datasets are detected."""

CSS21_COLOURS: dict[str, tuple[int, int, int]] = {
    name: (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)) for name, value in CSS21_NAMES_TO_HEX.items()
}
"""The 17 CSS 2.1 colour names with their exact RGB values (CSS 2.1 spec, section 4.3.6)."""

OBJECT_COLOURS: tuple[str, ...] = (
    "aqua", "black", "blue", "fuchsia", "green", "gray", "orange", "red", "white", "yellow",
)
"""Colours the shape is painted in: 10 mutually well-separated CSS 2.1 colours."""

BACKGROUND_COLOURS: tuple[str, ...] = OBJECT_COLOURS
"""Background colours; each image's background differs from its object colour."""

DRAWN_SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "hexagon", "cross", "heart", "crescent",
)
"""Shape kinds actually drawn; rotation is limited to +-30 degrees so each stays recognisable."""

SHAPE_VOCABULARY: tuple[str, ...] = DRAWN_SHAPES + (
    "pentagon", "octagon", "diamond", "rhombus", "rectangle", "ellipse", "oval", "ring",
    "semicircle", "trapezoid", "parallelogram", "kite", "arrow", "spiral", "moon",
    "plus sign", "teardrop", "lightning bolt", "clover", "shield",
    "cube", "sphere", "cylinder", "cone", "pyramid",
)
"""Shape words used as prompts: the drawn kinds plus distractors (the paper's 553 car names)."""

SIZE_RANGE = (0.14, 0.32)
"""Object circumradius as a fraction of the image side (the `size` factor)."""

ROTATION_RANGE = (-30.0, 30.0)
"""Rotation in degrees; kept small so a square never becomes a diamond or a heart turns over."""

MANIFEST_COLUMNS = (
    "image", "mask", "shape", "object_colour", "background_colour", "size", "x", "y", "rotation",
)


def _regular_polygon(n: int, start_deg: float = -90.0) -> np.ndarray:
    """Unit-circumradius regular n-gon with its first vertex at `start_deg` (screen coordinates)."""
    angles = np.deg2rad(start_deg + 360.0 * np.arange(n) / n)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int = 5, inner: float = 0.42) -> np.ndarray:
    """Unit star with `points` tips pointing up and inner radius `inner`."""
    angles = np.deg2rad(-90.0 + 180.0 * np.arange(2 * points) / points)
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross(arm: float = 0.34) -> np.ndarray:
    """Greek cross (plus sign) whose arm tips touch the unit circle."""
    a = arm
    b = math.sqrt(1.0 - a * a)
    return np.array([
        (-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a),
        (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a),
    ])


def _heart(n: int = 72) -> np.ndarray:
    """Classic parametric heart, point down, centred and scaled into the unit circle."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x = 16.0 * np.sin(t) ** 3
    y = -(13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y], axis=1)
    pts -= (pts.max(axis=0) + pts.min(axis=0)) / 2.0
    return pts / np.linalg.norm(pts, axis=1).max()


def _crescent(n: int = 48) -> np.ndarray:
    """Crescent opening to the right: outer unit arc minus an offset inner disc."""
    # Inner circle of radius r centred at (d, 0) cuts the unit circle where x = (1 + d^2 - r^2) / (2d).
    d, r = 0.45, 0.85
    cx = (1.0 + d * d - r * r) / (2.0 * d)
    phi = math.acos(cx)  # half-angle of the cut on the outer circle
    outer = np.linspace(phi, 2.0 * np.pi - phi, n)
    psi = math.atan2(math.sqrt(1.0 - cx * cx), cx - d)  # same cut points seen from the inner centre
    inner = np.linspace(2.0 * np.pi - psi, psi, n)[1:-1]
    pts_outer = np.stack([np.cos(outer), np.sin(outer)], axis=1)
    pts_inner = np.stack([d + r * np.cos(inner), r * np.sin(inner)], axis=1)
    return np.concatenate([pts_outer, pts_inner])


_UNIT_SHAPES: dict[str, np.ndarray] = {
    "circle": _regular_polygon(96),
    "square": _regular_polygon(4, start_deg=-135.0),
    "triangle": _regular_polygon(3),
    "star": _star(),
    "hexagon": _regular_polygon(6, start_deg=0.0),
    "cross": _cross(),
    "heart": _heart(),
    "crescent": _crescent(),
}
"""Unit outlines (every vertex within radius 1), so any rotation stays inside the circumcircle."""


def shape_polygon(shape: str, size_px: float, x: float, y: float, rotation: float) -> list[tuple[float, float]]:
    """Vertices of `shape` with circumradius `size_px`, centred at (x, y), rotated by `rotation` degrees."""
    if shape not in _UNIT_SHAPES:
        raise ConfigError(f"unknown shape {shape!r}: use one of {', '.join(DRAWN_SHAPES)}")
    theta = math.radians(rotation)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    pts = _UNIT_SHAPES[shape] @ rot.T * size_px + np.array([x, y])
    return [(float(px), float(py)) for px, py in pts]


def render(shape: str, object_colour: str, background_colour: str, size: float, x: float, y: float,
           rotation: float, image_size: int) -> tuple[Image.Image, Image.Image]:
    """Draw one image and its mask; the image is composited through the mask so both match exactly."""
    mask = Image.new("L", (image_size, image_size), 0)
    ImageDraw.Draw(mask).polygon(shape_polygon(shape, size * image_size, x, y, rotation), fill=255)
    background = Image.new("RGB", mask.size, CSS21_COLOURS[background_colour])
    foreground = Image.new("RGB", mask.size, CSS21_COLOURS[object_colour])
    return Image.composite(foreground, background, mask), mask


def centre_range(size: float, image_size: int) -> tuple[float, float]:
    """Lowest and highest object centre (pixels, either axis) for circumradius `size` (fraction of the side):
    a 1-pixel margin keeps the whole circumcircle inside the image."""
    radius = size * image_size
    return radius + 1.0, image_size - 1.0 - radius


def sample_factors(n_images: int, image_size: int, seed: int) -> list[dict]:
    """Draw every image's factors independently and uniformly from `seed` (one manifest row each)."""
    rng = np.random.default_rng(seed)
    shapes = rng.integers(0, len(DRAWN_SHAPES), n_images)
    objects = rng.integers(0, len(OBJECT_COLOURS), n_images)
    background_u = rng.random(n_images)
    sizes = np.round(rng.uniform(*SIZE_RANGE, n_images), 4)
    x_u, y_u = rng.random(n_images), rng.random(n_images)
    rotations = np.round(rng.uniform(*ROTATION_RANGE, n_images), 2)
    rows = []
    for i in range(n_images):
        obj = OBJECT_COLOURS[objects[i]]
        candidates = [c for c in BACKGROUND_COLOURS if c != obj]
        low, high = centre_range(float(sizes[i]), image_size)
        rows.append({
            "image": f"images/{i:06d}.png",
            "mask": f"masks/{i:06d}.png",
            "shape": DRAWN_SHAPES[shapes[i]],
            "object_colour": obj,
            "background_colour": candidates[int(background_u[i] * len(candidates))],
            "size": float(sizes[i]),
            "x": round(low + float(x_u[i]) * (high - low), 2),
            "y": round(low + float(y_u[i]) * (high - low), 2),
            "rotation": float(rotations[i]),
        })
    return rows


def generation_parameters(n_images: int, image_size: int, seed: int) -> dict:
    """The parameters recorded in generation.json and compared when a dataset already exists."""
    return {
        "format_version": FORMAT_VERSION,
        "generator": "indirect_core.synthetic_shapes",
        "n_images": int(n_images),
        "image_size": int(image_size),
        "seed": int(seed),
    }


def _write_dataset(folder: Path, rows: list[dict], image_size: int, progress: bool) -> None:
    """Write images, masks and manifest.csv into `folder` (generation.json is written by the caller)."""
    (folder / "images").mkdir()
    (folder / "masks").mkdir()
    iterator = rows
    if progress:
        from indirect_core._util.progress import progress_bar

        iterator = progress_bar(rows, desc="generating synthetic-shapes", unit="img")
    for row in iterator:
        image, mask = render(row["shape"], row["object_colour"], row["background_colour"], row["size"],
                             row["x"], row["y"], row["rotation"], image_size)
        image.save(folder / row["image"], format="PNG")
        mask.save(folder / row["mask"], format="PNG")
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def generate_synthetic_shapes(root: Path, n_images: int = 1000, image_size: int = 224, seed: int = 0,
                              progress: bool = True) -> Path:
    """Generate the dataset into `root` atomically (temp folder + rename); reuse it if already there."""
    root = Path(root).absolute()
    check_int("n_images", n_images, hint="e.g. n_images=1000")
    check_int("image_size", image_size, minimum=32, hint="e.g. 224")
    check_int("seed", seed, minimum=0, hint="e.g. seed=0")
    wanted = generation_parameters(n_images, image_size, seed)
    return generate_folder(root, wanted, lambda folder: _write_dataset(
        folder, sample_factors(n_images, image_size, seed), image_size, progress), kind="synthetic-shapes")
