"""synthetic-shapes-cir: the embedded composed-retrieval benchmark, generated from a seed (no download).

In the spirit of CSS (TIRG, Vo et al. 2019), on the synthetic-shapes renderer: an image's factors are shape
(8 drawn kinds), object colour (10), background colour (10, never the object colour) and size class (small /
large, each a range of circumradius); position, rotation and the size within its class are nuisances, drawn
afresh for every rendered image. A test query is a gallery image plus a modification text over one or two
factors ("is red", "has a navy background", "is a star instead of a circle", "is bigger", joined with " and ");
its target is rendered with the modified factors and fresh nuisances, and every gallery image with the target's
factor tuple counts as a hit. Each query also has a CIRR-style subset of 6 images (the target and 5 images that
differ from it in exactly one factor) for Recall_subset@K. A separate train split (own images, own seed stream)
has one caption per image for training the mappers.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..data import synthetic_shapes as shapes
from ..data.datasets import Dataset
from ..data.datasets.core import data_parent
from .._util.errors import ConfigError, DatasetError
from .._util.validation import check_int
from ..data.generated import generate_folder
from .._util.progress import progress_bar
from .queries import QuerySet

SYNTHETIC_CIR = "synthetic-shapes-cir"
"""The benchmark's registry name (``QuerySet.benchmark``)."""
FORMAT_VERSION = 1
"""Bumped whenever sampling, drawing or the file layout changes, so stale folders are detected."""

FACTORS: tuple[str, ...] = ("shape", "object_colour", "background_colour", "size_class")
"""An image's factor tuple, in this order; two images with equal tuples are interchangeable targets."""
SIZE_CLASSES: dict[str, tuple[float, float]] = {"small": (0.14, 0.20), "large": (0.26, 0.32)}
"""Circumradius range (fraction of the image side) of each size class: the ends of synthetic-shapes'
``SIZE_RANGE`` with a gap between them, so "bigger" is visible whatever the nuisance size."""
SUBSET_SIZE = 6
"""Images in each query's subset: the target and 5 one-factor distractors."""
TWO_FACTOR_SHARE = 0.5
"""Share of queries whose text changes two factors (the rest change one)."""
DEFAULTS: dict[str, int] = {"n_queries": 500, "n_gallery": 2000, "n_train": 2000, "image_size": 224, "seed": 0}
"""Default size: 500 test queries over a gallery of the 2000 base images plus the rendered targets, twins and
distractors (2863 test images with seed 0), and 2000 train images."""

CAPTION_TEMPLATES: tuple[str, ...] = (
    "a {size} {colour} {shape} on {bg_article} {bg} background",
    "a photo of a {size} {colour} {shape} in front of {bg_article} {bg} background",
    "a {size} {shape} in {colour} on {bg_article} {bg} background",
    "{bg_article} {bg} background with a {size} {colour} {shape}",
)
"""Train captions: each describes all four factors; one template per image, drawn from the train stream."""

MANIFEST_COLUMNS = ("name", "image", "split", "role", *FACTORS, "size", "x", "y", "rotation")
"""manifest.csv: every image (test and train) with its factors and nuisances. ``role``: gallery (a base test
image), target, twin (a second image of a reference's tuple), distractor (a subset member) or train."""
QUERY_COLUMNS = ("query", "reference", "caption", "changed", "target", "subset")
"""queries.csv: reference and target image names, the text, the changed factors ("+"-joined, in the text's
order) and the 6 subset names (space-separated)."""
CAPTION_COLUMNS = ("name", "caption")
"""train_captions.csv: one caption per train image."""


def article(word: str) -> str:
    """English indefinite article for ``word`` ("an orange", "a red")."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def change_phrase(factor: str, before: dict, after: dict) -> str:
    """The modification text for one changed factor, from the reference's values to the target's."""
    if factor == "object_colour":
        return f"is {after['object_colour']}"
    if factor == "background_colour":
        colour = after["background_colour"]
        return f"has {article(colour)} {colour} background"
    if factor == "shape":
        new, old = after["shape"], before["shape"]
        return f"is {article(new)} {new} instead of {article(old)} {old}"
    if factor == "size_class":
        return "is bigger" if after["size_class"] == "large" else "is smaller"
    raise ConfigError(f"unknown factor {factor!r}: use one of {FACTORS}")


def train_caption(factors: dict, template: str) -> str:
    """The caption of an image's factors with ``template`` (one of ``CAPTION_TEMPLATES``)."""
    return template.format(size=factors["size_class"], colour=factors["object_colour"], shape=factors["shape"],
                           bg=factors["background_colour"], bg_article=article(factors["background_colour"]))


def factor_tuple(row: dict) -> tuple[str, ...]:
    """The image's values of ``FACTORS``."""
    return tuple(row[f] for f in FACTORS)


def factor_values(factor: str) -> tuple[str, ...]:
    """The values a factor takes."""
    return {"shape": shapes.DRAWN_SHAPES, "object_colour": shapes.OBJECT_COLOURS,
            "background_colour": shapes.BACKGROUND_COLOURS, "size_class": tuple(SIZE_CLASSES)}[factor]


def _valid(factors: dict) -> bool:
    return factors["object_colour"] != factors["background_colour"]


def _random_factors(rng: np.random.Generator) -> dict:
    """Uniform shape, object colour, size class; a uniform background among the other colours."""
    shape = shapes.DRAWN_SHAPES[rng.integers(len(shapes.DRAWN_SHAPES))]
    colour = shapes.OBJECT_COLOURS[rng.integers(len(shapes.OBJECT_COLOURS))]
    backgrounds = [c for c in shapes.BACKGROUND_COLOURS if c != colour]
    background = backgrounds[rng.integers(len(backgrounds))]
    size_class = tuple(SIZE_CLASSES)[rng.integers(len(SIZE_CLASSES))]
    return {"shape": shape, "object_colour": colour, "background_colour": background, "size_class": size_class}


def _nuisances(rng: np.random.Generator, size_class: str, image_size: int) -> dict:
    """Fresh size within the class, centre (inside the image, as synthetic-shapes) and rotation."""
    size = round(float(rng.uniform(*SIZE_CLASSES[size_class])), 4)
    low, high = shapes.centre_range(size, image_size)
    x, y = rng.uniform(low, high, 2)
    rotation = round(float(rng.uniform(*shapes.ROTATION_RANGE)), 2)
    return {"size": size, "x": round(float(x), 2), "y": round(float(y), 2), "rotation": rotation}


def _modify(reference: dict, changed: list[str], rng: np.random.Generator) -> dict:
    """The target factors: each changed factor takes another value; object and background stay different."""
    target = dict(reference)
    for factor in sorted(changed, key=FACTORS.index):  # the object colour first: the background then avoids it
        others = [v for v in factor_values(factor) if v != reference[factor]]
        if factor == "object_colour" and "background_colour" not in changed:
            others = [v for v in others if v != reference["background_colour"]]
        if factor == "background_colour":
            others = [v for v in others if v != target["object_colour"]]
        target[factor] = others[rng.integers(len(others))]
    return target


def _one_factor_variants(target: dict) -> list[dict]:
    """Every valid tuple that differs from ``target`` in exactly one factor, in a fixed order."""
    variants = []
    for factor in FACTORS:
        for value in factor_values(factor):
            if value != target[factor]:
                variant = dict(target, **{factor: value})
                if _valid(variant):
                    variants.append(variant)
    return variants


class _Gallery:
    """The test images planned so far, with a lookup from factor tuple to image indices."""

    def __init__(self, rng: np.random.Generator, image_size: int) -> None:
        self.rng, self.image_size = rng, image_size
        self.rows: list[dict] = []
        self.by_tuple: dict[tuple, list[int]] = {}

    def add(self, factors: dict, role: str) -> int:
        """Plan one new image with these factors and fresh nuisances; its index."""
        index = len(self.rows)
        name = f"test-{index:06d}"
        self.rows.append({"name": name, "image": f"images/{name}.png", "split": "test", "role": role,
                          **{f: factors[f] for f in FACTORS}, **_nuisances(self.rng, factors["size_class"],
                                                                           self.image_size)})
        self.by_tuple.setdefault(factor_tuple(factors), []).append(index)
        return index

    def find(self, factors: dict, avoid: set[int]) -> int | None:
        """A random existing image with these factors outside ``avoid``, or None."""
        found = [i for i in self.by_tuple.get(factor_tuple(factors), []) if i not in avoid]
        return found[self.rng.integers(len(found))] if found else None


def plan_benchmark(n_queries: int = DEFAULTS["n_queries"], n_gallery: int = DEFAULTS["n_gallery"],
                   n_train: int = DEFAULTS["n_train"], image_size: int = DEFAULTS["image_size"],
                   seed: int = DEFAULTS["seed"]) -> tuple[list[dict], list[dict], list[dict]]:
    """Everything the benchmark holds, without rendering: (manifest rows, query rows, train caption rows).

    Test and train draw from separate child streams of ``seed`` (numpy ``SeedSequence.spawn``).
    """
    _check_parameters(n_queries, n_gallery, n_train, image_size, seed)
    test_stream, train_stream = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(test_stream)
    gallery = _Gallery(rng, image_size)
    for _ in range(n_gallery):
        gallery.add(_random_factors(rng), "gallery")
    references = rng.choice(n_gallery, size=n_queries, replace=False)
    queries = []
    for number, reference in enumerate(int(r) for r in references):
        before = {f: gallery.rows[reference][f] for f in FACTORS}
        n_changed = 2 if rng.random() < TWO_FACTOR_SHARE else 1
        changed = [FACTORS[i] for i in rng.choice(len(FACTORS), size=n_changed, replace=False)]
        after = _modify(before, changed, rng)
        target = gallery.add(after, "target")
        # A second image of the reference's tuple, so that retrieving "the same content" is never a hit.
        twin = gallery.find(before, avoid={reference})
        if twin is None:
            twin = gallery.add(before, "twin")
        variants = _one_factor_variants(after)
        chosen = [variants[i] for i in rng.choice(len(variants), size=SUBSET_SIZE - 1, replace=False)]
        if n_changed == 1 and before not in chosen:  # the reference's tuple is a one-factor variant: keep it
            chosen[0] = before
        members = [target]
        for variant in chosen:
            found = gallery.find(variant, avoid={reference, *members})
            members.append(found if found is not None else gallery.add(variant, "distractor"))
        subset = [members[i] for i in rng.permutation(len(members))]  # ties must not favour the target
        queries.append({"query": f"q{number:05d}", "reference": gallery.rows[reference]["name"],
                        "caption": " and ".join(change_phrase(f, before, after) for f in changed),
                        "changed": "+".join(changed), "target": gallery.rows[target]["name"],
                        "subset": " ".join(gallery.rows[i]["name"] for i in subset)})
    rng = np.random.default_rng(train_stream)
    train, captions = [], []
    for index in range(n_train):
        factors = _random_factors(rng)
        name = f"train-{index:06d}"
        train.append({"name": name, "image": f"images/{name}.png", "split": "train", "role": "train",
                      **factors, **_nuisances(rng, factors["size_class"], image_size)})
        template = CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))]
        captions.append({"name": name, "caption": train_caption(factors, template)})
    return gallery.rows + train, queries, captions


def _check_parameters(n_queries: object, n_gallery: object, n_train: object, image_size: object,
                      seed: object) -> None:
    n_queries = check_int("n_queries", n_queries, hint="e.g. n_queries=500")
    check_int("n_gallery", n_gallery, minimum=n_queries, hint=f"at least n_queries ({n_queries}): each query's "
              "reference is a distinct base gallery image")
    check_int("n_train", n_train, hint="e.g. n_train=2000")
    check_int("image_size", image_size, minimum=32, hint="e.g. 224")
    check_int("seed", seed, minimum=0, hint="e.g. seed=0")


def generation_parameters(n_queries: int, n_gallery: int, n_train: int, image_size: int, seed: int) -> dict:
    """What generation.json records and what a reused folder must match."""
    return {"format_version": FORMAT_VERSION, "generator": "indirect_core.composed.synthetic",
            "n_queries": int(n_queries), "n_gallery": int(n_gallery), "n_train": int(n_train),
            "image_size": int(image_size), "seed": int(seed)}


def default_synthetic_cir_root(n_queries: int = DEFAULTS["n_queries"], n_gallery: int = DEFAULTS["n_gallery"],
                               n_train: int = DEFAULTS["n_train"], image_size: int = DEFAULTS["image_size"],
                               seed: int = DEFAULTS["seed"]) -> Path:
    """data/synthetic-shapes-cir under $INDIRECT_DATA_DIR or ./data; non-default parameters get their own folder."""
    params = {"n_queries": n_queries, "n_gallery": n_gallery, "n_train": n_train, "image_size": image_size,
              "seed": seed}
    if params == DEFAULTS:
        return data_parent() / SYNTHETIC_CIR
    return data_parent() / (f"{SYNTHETIC_CIR}-q{n_queries}-g{n_gallery}-t{n_train}-px{image_size}-seed{seed}")


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _write_benchmark(folder: Path, plan: tuple[list[dict], list[dict], list[dict]], image_size: int,
                     progress: bool) -> None:
    """Render every image of the plan into ``folder``/images and write the three CSV files."""
    images, queries, captions = plan
    (folder / "images").mkdir()
    bar = progress_bar(images, desc=f"generating {SYNTHETIC_CIR}", unit="img", disable=not progress)
    for row in bar:
        image, _ = shapes.render(row["shape"], row["object_colour"], row["background_colour"], row["size"],
                                 row["x"], row["y"], row["rotation"], image_size)
        image.save(folder / row["image"], format="PNG")
    _write_csv(folder / "manifest.csv", MANIFEST_COLUMNS, images)
    _write_csv(folder / "queries.csv", QUERY_COLUMNS, queries)
    _write_csv(folder / "train_captions.csv", CAPTION_COLUMNS, captions)


def generate_synthetic_cir(root: str | Path | None = None, n_queries: int = DEFAULTS["n_queries"],
                           n_gallery: int = DEFAULTS["n_gallery"], n_train: int = DEFAULTS["n_train"],
                           image_size: int = DEFAULTS["image_size"], seed: int = DEFAULTS["seed"],
                           progress: bool = True) -> Path:
    """Generate the benchmark into ``root`` atomically (temp folder + rename, generation.json last); reuse a
    folder made with the same parameters, refuse one made with others."""
    _check_parameters(n_queries, n_gallery, n_train, image_size, seed)
    if root is None:
        root = default_synthetic_cir_root(n_queries, n_gallery, n_train, image_size, seed)
    wanted = generation_parameters(n_queries, n_gallery, n_train, image_size, seed)
    return generate_folder(Path(root), wanted, lambda folder: _write_benchmark(
        folder, plan_benchmark(n_queries, n_gallery, n_train, image_size, seed), image_size, progress),
        kind=SYNTHETIC_CIR)


def _read_csv(path: Path, columns: tuple[str, ...], root: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"{path} is missing: delete the folder {root} so it is regenerated")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DatasetError(f"{path} lacks column(s) {', '.join(missing)}: delete the folder {root} so it is "
                           "regenerated")
    return table


def _manifest(root: Path, split: str) -> pd.DataFrame:
    """The manifest rows of one split, numeric nuisances as floats."""
    manifest = _read_csv(root / "manifest.csv", MANIFEST_COLUMNS, root)
    manifest = manifest[manifest["split"] == split].reset_index(drop=True)
    for column in ("size", "x", "y", "rotation"):
        manifest[column] = manifest[column].astype(float)
    return manifest


def _images(root: Path, manifest: pd.DataFrame, name: str) -> Dataset:
    labels = manifest.drop(columns=["image", "split"])
    return Dataset(name=name, root=root, image_paths=tuple(root / p for p in manifest["image"]), labels=labels)


def _indices(names: Iterable[str], index: dict[str, int], path: Path, root: Path) -> list[int]:
    try:
        return [index[n] for n in names]
    except KeyError as missing:
        raise DatasetError(f"{path} names image {missing} that the manifest's test split lacks: delete the folder "
                           f"{root} so it is regenerated") from None


def load_synthetic_cir(root: str | Path | None = None, split: str = "test", n_queries: int = DEFAULTS["n_queries"],
                       n_gallery: int = DEFAULTS["n_gallery"], n_train: int = DEFAULTS["n_train"],
                       image_size: int = DEFAULTS["image_size"], seed: int = DEFAULTS["seed"],
                       progress: bool = True) -> list[QuerySet]:
    """The test ``QuerySet`` (in a one-element list, like every benchmark loader), generated on first use.

    Gallery = every test image; targets = every image with the target's factor tuple; candidates = the 6-image
    subsets; the reference is excluded from its own ranking; ``info`` holds the changed factors.
    """
    if split != "test":
        raise ConfigError(f"{SYNTHETIC_CIR}: split={split!r} has no queries: use split='test' (the train split's "
                          "images and captions come from synthetic_cir_train)")
    root = generate_synthetic_cir(root, n_queries, n_gallery, n_train, image_size, seed, progress)
    manifest = _manifest(root, "test")
    images = _images(root, manifest, SYNTHETIC_CIR)
    queries = _read_csv(root / "queries.csv", QUERY_COLUMNS, root)
    index = {name: i for i, name in enumerate(manifest["name"])}
    by_tuple: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(*(manifest[f] for f in FACTORS))):
        by_tuple.setdefault(tuple(key), []).append(i)
    path = root / "queries.csv"
    reference = _indices(queries["reference"], index, path, root)
    target = _indices(queries["target"], index, path, root)
    subsets = [tuple(_indices(s.split(), index, path, root)) for s in queries["subset"]]
    targets = tuple(tuple(by_tuple[tuple(manifest.loc[t, f] for f in FACTORS)]) for t in target)
    info = pd.DataFrame({"changed": queries["changed"], "n_changed": queries["changed"].str.count(r"\+") + 1,
                         "target": target})
    return [QuerySet(benchmark=SYNTHETIC_CIR, split="test", subset="", images=images, reference=np.array(reference),
                     captions=tuple((c,) for c in queries["caption"]), targets=targets,
                     gallery=np.arange(len(images)), candidates=tuple(subsets), exclude_reference=True,
                     query_ids=tuple(queries["query"]), info=info)]


def synthetic_cir_train(root: str | Path | None = None, n_queries: int = DEFAULTS["n_queries"],
                        n_gallery: int = DEFAULTS["n_gallery"], n_train: int = DEFAULTS["n_train"],
                        image_size: int = DEFAULTS["image_size"], seed: int = DEFAULTS["seed"],
                        progress: bool = True) -> tuple[Dataset, list[str]]:
    """The train split: a ``Dataset`` of its images (labels: name, factors, nuisances) and one caption per image,
    in the same order (Pic2Word trains on the images, LinCIR on the captions)."""
    root = generate_synthetic_cir(root, n_queries, n_gallery, n_train, image_size, seed, progress)
    manifest = _manifest(root, "train")
    captions = _read_csv(root / "train_captions.csv", CAPTION_COLUMNS, root)
    if list(captions["name"]) != list(manifest["name"]):
        raise DatasetError(f"{root / 'train_captions.csv'} does not list the manifest's train images in order: "
                           f"delete the folder {root} so it is regenerated")
    return _images(root, manifest, f"{SYNTHETIC_CIR}-train"), list(captions["caption"])
