"""shapes-clip's training stream: synthetic-shapes images drawn per step, each with a caption, and which captions
each image satisfies.

A caption names all four factors (shape, object colour, background colour, size) or one or two of them. A caption
naming fewer factors fits several images of a batch; those images are all its positives (``positives``), so a
one-factor caption never makes another image of the same shape or colour a false negative.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._util.errors import ConfigError
from ..data import synthetic_shapes as shapes
from .settings import BATCH_DESIGNS, DEFAULTS

TRAINING_STREAM = 0x5C11_7A1B
"""The first word of every training step's seed sequence [TRAINING_STREAM, seed, step]: a stream no evaluation
split (seeded by one integer) can draw."""
RENDER_SIZE = 224
"""Training images are drawn at synthetic-shapes' default size and resized by CLIP's preprocessing, as the evaluated
datasets are."""
SIZE_WORDS: dict[str, tuple[float, float]] = {"small": (0.14, 0.20), "large": (0.26, 0.32)}
"""Size words and their circumradius ranges (synthetic-shapes-cir's size classes); sizes between them get none."""
FACTORS: tuple[str, ...] = ("shape", "object_colour", "background_colour", "size")
"""The factors a caption can name (synthetic-shapes' label columns)."""

FULL_TEMPLATES: tuple[str, ...] = (
    "a photo of {thing} in front of {bg_a} {bg} background",
    "{thing} on {bg_a} {bg} background",
    "{bg_a} {bg} background with {thing} on it",
    "{thing} shape in front of {bg_a} {bg} background",
    "a picture of {sized_shape} in {colour} on {bg_a} {bg} background",
    "{sized_shape} painted {colour}, on {bg_a} {bg} background",
    "{coloured_shape}, {shape_a} {shape}, in front of {bg_a} {bg} background",
    "{shape_a} {shape}: {coloured_shape} on {bg_a} {bg} background",
)
"""Captions naming all four factors ({thing} = "a small red star", {sized_shape} = "a small star", {coloured_shape} =
"a small red shape"; the size word is left out for sizes between the two classes)."""
PARTIAL_TEMPLATES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("shape",): ("a photo of {shape_a} {shape}", "{shape_a} {shape}", "a picture of {shape_a} {shape}",
                 "{shape_a} {shape} shape"),
    ("object_colour",): ("a {colour} shape", "a shape painted {colour}", "something {colour}",
                         "{colour_a} {colour} object"),
    ("background_colour",): ("a shape in front of {bg_a} {bg} background", "{bg_a} {bg} background",
                             "something on {bg_a} {bg} background"),
    ("shape", "object_colour"): ("{colour_a} {colour} {shape}", "a photo of {colour_a} {colour} {shape}",
                                 "{shape_a} {shape} painted {colour}"),
    ("shape", "background_colour"): ("{shape_a} {shape} on {bg_a} {bg} background",
                                     "a photo of {shape_a} {shape} in front of {bg_a} {bg} background"),
    ("object_colour", "background_colour"): ("a {colour} shape on {bg_a} {bg} background",
                                             "{colour_a} {colour} object in front of {bg_a} {bg} background"),
}
"""Captions naming one or two factors. Among them the forms of the synthetic-shapes notions' prompt templates
("a photo of a {}", "a {} shape", "a shape in front of a {} background"), as a web-trained CLIP has seen such
phrases; the notions' distractor words never occur in a caption."""
CAPTION_KINDS: tuple[tuple[tuple[str, ...], float], ...] = (
    (FACTORS, 0.3), (("shape",), 0.2), (("object_colour",), 0.12), (("background_colour",), 0.12),
    (("shape", "object_colour"), 0.1), (("shape", "background_colour"), 0.08),
    (("object_colour", "background_colour"), 0.08),
)
"""(factors a caption names, probability): the mix captions are drawn from (per image, or per group of a ``pairs``
batch: a group's captions then differ exactly where its images do)."""
COLOUR_PAIRS: tuple[tuple[str, str], ...] = tuple((obj, bg) for obj in shapes.OBJECT_COLOURS
                                                  for bg in shapes.BACKGROUND_COLOURS if obj != bg)
"""The 90 (object colour, background colour) pairs synthetic-shapes draws."""


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def size_word(size: float) -> str:
    """"small" or "large" for a circumradius (fraction of the side) inside that class's range, else ""."""
    for word, (low, high) in SIZE_WORDS.items():
        if low <= size <= high:
            return word
    return ""


def caption(row: dict, template: str) -> str:
    """The caption ``template`` says of an image's factors."""
    size = size_word(row["size"])
    thing = " ".join(w for w in (size, row["object_colour"], row["shape"]) if w)
    sized_shape = " ".join(w for w in (size, row["shape"]) if w)
    coloured = " ".join(w for w in (size, row["object_colour"], "shape") if w)
    return template.format(thing=f"{_article(thing)} {thing}", sized_shape=f"{_article(sized_shape)} {sized_shape}",
                           coloured_shape=f"{_article(coloured)} {coloured}", colour=row["object_colour"],
                           colour_a=_article(row["object_colour"]), shape=row["shape"],
                           shape_a=_article(row["shape"]), bg=row["background_colour"],
                           bg_a=_article(row["background_colour"]))


def named_values(row: dict, factors: Sequence[str]) -> dict[str, str]:
    """What a caption naming ``factors`` says about an image (the size as its word; no word, no claim)."""
    values = {f: size_word(row["size"]) if f == "size" else row[f] for f in factors}
    return {f: v for f, v in values.items() if v}


def batch_size(n_groups: int) -> int:
    """Images per training batch: the 8 drawn shapes in each group."""
    return len(shapes.DRAWN_SHAPES) * n_groups


def training_batch(seed: int, step: int, n_groups: int = DEFAULTS["n_groups"], design: str = DEFAULTS["design"]
                   ) -> list[dict]:
    """The factors, nuisances, caption and named factors (``named``) of every image of training step ``step``,
    drawn from numpy's ``default_rng([TRAINING_STREAM, seed, step])``: ``batch_size(n_groups)`` images."""
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or \
            not 1 <= n_groups <= len(COLOUR_PAIRS):
        raise ConfigError(f"n_groups={n_groups!r} must be an integer between 1 and {len(COLOUR_PAIRS)}")
    if design not in BATCH_DESIGNS:
        raise ConfigError(f"design={design!r} must be one of {list(BATCH_DESIGNS)}")
    rng = np.random.default_rng([TRAINING_STREAM, int(seed), int(step)])
    n = batch_size(n_groups)
    if design == "pairs":
        pairs = [COLOUR_PAIRS[i] for i in rng.choice(len(COLOUR_PAIRS), size=n_groups, replace=False)]
        factors = [(shape, obj, bg) for obj, bg in pairs for shape in shapes.DRAWN_SHAPES]
    else:
        factors = []
        for _ in range(n):
            shape = shapes.DRAWN_SHAPES[rng.integers(len(shapes.DRAWN_SHAPES))]
            obj = shapes.OBJECT_COLOURS[rng.integers(len(shapes.OBJECT_COLOURS))]
            backgrounds = [c for c in shapes.BACKGROUND_COLOURS if c != obj]
            factors.append((shape, obj, backgrounds[rng.integers(len(backgrounds))]))
    kinds = [kind for kind, _ in CAPTION_KINDS]
    weights = np.array([p for _, p in CAPTION_KINDS])
    rows = []
    for index, (shape, obj, bg) in enumerate(factors):
        size = round(float(rng.uniform(*shapes.SIZE_RANGE)), 4)
        low, high = shapes.centre_range(size, RENDER_SIZE)
        x, y = rng.uniform(low, high, 2)
        row = {"shape": shape, "object_colour": obj, "background_colour": bg, "size": size,
               "x": round(float(x), 2), "y": round(float(y), 2),
               "rotation": round(float(rng.uniform(*shapes.ROTATION_RANGE)), 2)}
        if design == "random" or index % len(shapes.DRAWN_SHAPES) == 0:  # a pairs group shares kind and template
            kind = kinds[rng.choice(len(kinds), p=weights / weights.sum())]
            templates = FULL_TEMPLATES if kind == FACTORS else PARTIAL_TEMPLATES[kind]
            template = templates[rng.integers(len(templates))]
        row["caption"] = caption(row, template)
        row["named"] = named_values(row, kind)
        rows.append(row)
    return rows


def positives(rows: Sequence[dict]) -> torch.Tensor:
    """(n, n) 0/1 float matrix: entry (i, j) is 1 when image i has every factor value caption j names."""
    def value(row: dict, factor: str) -> str:
        return size_word(row["size"]) if factor == "size" else row[factor]

    return torch.tensor([[float(all(value(image, f) == v for f, v in text["named"].items())) for text in rows]
                         for image in rows])


def vocabulary_texts() -> list[str]:
    """Captions covering every word a training caption can contain (BPE tokenizes words independently)."""
    sizes = [0.17, 0.23, 0.29]  # small, no size word, large
    rows = []
    for i, shape in enumerate(shapes.DRAWN_SHAPES):
        for j, colour in enumerate(shapes.OBJECT_COLOURS):
            rows.append({"shape": shape, "object_colour": colour, "size": sizes[(i + j) % 3],
                         "background_colour": shapes.BACKGROUND_COLOURS[(j + 1) % len(shapes.BACKGROUND_COLOURS)]})
    for k, colour in enumerate(shapes.BACKGROUND_COLOURS):
        rows.append({"shape": "circle", "object_colour": "red", "size": sizes[k % 3], "background_colour": colour})
    templates = FULL_TEMPLATES + tuple(t for ts in PARTIAL_TEMPLATES.values() for t in ts)
    return [caption(row, template) for template in templates for row in rows]


