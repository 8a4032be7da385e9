"""Similarity notions: a label column of a dataset described only by a prompt template and a word list.

InDiReCT needs nothing but these prompts to build its projection; the label column is used for evaluation.
The words come from a shipped word list (``indirect_core/prompts/``), a user's list or file, or, as the
authors did for car type, genre and country, the label vocabulary of the evaluated dataset (``LABEL_VOCABULARY``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from indirect_core.data.datasets import SYNTHETIC_SHAPES, Dataset
from indirect_core._util.errors import ConfigError, DatasetError
from indirect_core._util.validation import check_int
from indirect_core.data.prompt_words import read_words, words as word_list
from indirect_core.data.css_colours import CSS21_COLOUR_NAMES
from indirect_core.data.synthetic_shapes import SHAPE_VOCABULARY

CSS21_COLOUR_WORDS: tuple[str, ...] = CSS21_COLOUR_NAMES
"""The 17 CSS 2.1 colour names (aqua, black, blue, ... white, yellow), the colour prompt words."""


class _LabelVocabulary:
    """Marker type of LABEL_VOCABULARY (a single instance that survives copying and pickling)."""

    _instance: "_LabelVocabulary | None" = None

    def __new__(cls) -> "_LabelVocabulary":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "LABEL_VOCABULARY"

    def __reduce__(self) -> str:
        return "LABEL_VOCABULARY"


LABEL_VOCABULARY = _LabelVocabulary()
"""Pass as a notion's ``words``: the prompt words are the distinct labels of the evaluated dataset (B7)."""

LABEL_VOCABULARY_SOURCE = "label vocabulary"
"""``Notion.word_source`` of a notion whose words are (or will be) the dataset's label vocabulary."""

OWN_COLLECTION = "own collection"
"""The dataset name of the notions of a collection of your own (a ``Space``'s, the explorer's)."""

GIVEN_WORDS_SOURCE = "given words"
"""``Notion.word_source`` of a notion built from an explicit word list."""


def check_template(template: object, where: str) -> str:
    """A prompt template must be a string with exactly one "{}" and no other format fields; ``where`` names
    what holds it in the error (e.g. "notion 'shape'" or "parameter template")."""
    example = 'use e.g. "a photo of a {}"'
    if not isinstance(template, str) or template.count("{}") != 1:
        raise ConfigError(f"{where}: prompt template {template!r} must contain exactly one {{}} placeholder: {example}")
    try:
        template.format("word")
    except (IndexError, KeyError, ValueError) as exc:
        raise ConfigError(f"{where}: prompt template {template!r} has stray braces ({exc}): keep only the one "
                          f"{{}} placeholder, {example}") from exc
    return template


@dataclass(frozen=True)
class Notion:
    """One similarity notion: which label column of which dataset, and the prompts that describe it."""

    name: str
    dataset: str
    label_column: str
    template: str
    words: tuple[str, ...] | _LabelVocabulary
    word_source: str = GIVEN_WORDS_SOURCE
    """Where the words come from: a shipped word list's name, a file path, "label vocabulary" or "given words"."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"notion name {self.name!r} is invalid: pass a non-empty string, e.g. 'shape'")
        if isinstance(self.words, str):
            raise ConfigError(
                f"words for notion {self.name!r} is the single string {self.words!r}: pass a list of words "
                f"(or LABEL_VOCABULARY for the dataset's labels)"
            )
        check_template(self.template, f"notion {self.name!r}")
        if self.words is LABEL_VOCABULARY:
            object.__setattr__(self, "word_source", LABEL_VOCABULARY_SOURCE)
            return
        object.__setattr__(self, "words", tuple(self.words))
        if not self.words:
            raise ConfigError(
                f"empty prompt list for notion {self.name!r} of dataset {self.dataset!r}: pass at least one word"
            )
        bad = [w for w in self.words if not isinstance(w, str) or not w.strip()]
        if bad:
            raise ConfigError(
                f"notion {self.name!r} has invalid prompt word(s) {bad[:5]!r}: every word must be a non-empty string"
            )

    @property
    def uses_label_vocabulary(self) -> bool:
        """True if the words are the label vocabulary of the evaluated dataset (resolved or not)."""
        return self.word_source == LABEL_VOCABULARY_SOURCE

    @property
    def is_resolved(self) -> bool:
        """False while the words still wait for a dataset (``for_dataset``) to supply its labels."""
        return self.words is not LABEL_VOCABULARY

    @property
    def prompts(self) -> list[str]:
        """template.format(word) for each word, in order, duplicates removed (first occurrence kept)."""
        if not self.is_resolved:
            raise ConfigError(
                f"notion {self.name!r} of dataset {self.dataset!r} takes its prompt words from the label "
                f"vocabulary of the evaluated dataset: call notion.for_dataset(data) first, or give fixed "
                f"words with with_word_list(name) / with_prompts(words=...)"
            )
        return list(dict.fromkeys(self.template.format(w) for w in self.words))

    def for_dataset(self, dataset: Dataset) -> "Notion":
        """A copy whose words are the sorted distinct labels of `dataset` (label-vocabulary notions only; else self)."""
        if not self.uses_label_vocabulary:
            return self
        return dataclasses.replace(self, words=_label_vocabulary(self, dataset))

    def with_label_vocabulary(self) -> "Notion":
        """A copy that takes its words from the evaluated dataset's labels (resolve with ``for_dataset``)."""
        return dataclasses.replace(self, words=LABEL_VOCABULARY, word_source=LABEL_VOCABULARY_SOURCE)

    def with_word_list(self, name: str) -> "Notion":
        """A copy whose words are the shipped word list `name` (see prompt_words.available_word_lists())."""
        return dataclasses.replace(self, words=tuple(word_list(name)), word_source=name.removesuffix(".txt"))

    def with_word_file(self, path: str | Path) -> "Notion":
        """A copy whose words are read from a user's word file (one word per line)."""
        return dataclasses.replace(self, words=tuple(read_words(path)), word_source=str(path))

    def labels(self, dataset: Dataset) -> np.ndarray:
        """This notion's label column of `dataset` as a numpy array of str."""
        if self.label_column not in dataset.labels.columns:
            raise DatasetError(
                f"dataset {dataset.name!r} (root {dataset.root}) has no label column {self.label_column!r} "
                f"needed by notion {self.name!r} (columns: {', '.join(map(str, dataset.labels.columns))}): "
                f"pick a notion whose label_column exists"
            )
        return np.asarray(dataset.labels[self.label_column].astype(str).to_numpy(), dtype=str)

    def with_prompts(self, template: str | None = None,
                     words: Iterable[str] | _LabelVocabulary | None = None) -> "Notion":
        """A copy with a custom template and/or words (a word list, or LABEL_VOCABULARY); validated as usual."""
        if words is None:
            return dataclasses.replace(self, template=self.template if template is None else template)
        if words is LABEL_VOCABULARY:
            new_words, source = LABEL_VOCABULARY, LABEL_VOCABULARY_SOURCE
        elif isinstance(words, str):
            new_words, source = words, GIVEN_WORDS_SOURCE  # refused with a clear message in __post_init__
        else:
            new_words, source = tuple(words), GIVEN_WORDS_SOURCE
        return dataclasses.replace(self, template=self.template if template is None else template,
                                   words=new_words, word_source=source)


def _label_vocabulary(notion: Notion, dataset: Dataset) -> tuple[str, ...]:
    """Sorted distinct values of the notion's label column in `dataset`; DatasetError if none or blank."""
    vocabulary = sorted(set(notion.labels(dataset).tolist()))
    if not vocabulary:
        raise DatasetError(
            f"dataset {dataset.name!r} (root {dataset.root}) has no images, so notion {notion.name!r} has no "
            f"label vocabulary for its prompts: load a dataset with images"
        )
    if any(not v.strip() for v in vocabulary):
        raise DatasetError(
            f"dataset {dataset.name!r} (root {dataset.root}) has blank labels in column {notion.label_column!r}, "
            f"which cannot be prompt words of notion {notion.name!r}: fill in or drop those rows, or use "
            f"fixed words with with_word_list(name)"
        )
    return tuple(vocabulary)


PROMPT_WORDS = ("all", "strict")
"""How prompt words relate to the evaluation labels: "all" keeps every word of the notion's list (the paper's
setting), "strict" drops the words that equal an evaluation label (see ``label_overlap``)."""


def normalize_word(text: str) -> str:
    """A word or label compared case- and space-insensitively: lower case, runs of spaces as one."""
    return " ".join(str(text).lower().split())


def label_overlap(notion: Notion, dataset: Dataset) -> dict:
    """How many of the notion's prompt words equal one of its evaluation labels (case/space-normalised).

    Zero-shot means the prompts were written without looking at the evaluation labels; a list that contains
    them (e.g. the label vocabulary the authors used for car type, genre and country) is not independent.
    """
    notion = notion.for_dataset(dataset)
    labels = {normalize_word(label) for label in notion.labels(dataset)}
    shared = sorted({w for w in notion.words if normalize_word(w) in labels}, key=str.lower)
    return {"notion": notion.name, "word_source": notion.word_source, "n_words": len(notion.words),
            "n_labels": len(labels), "n_shared": len(shared), "shared": shared}


def describe_overlap(overlap: dict) -> str:
    """One line for tables and reports, e.g. "8 of 33 prompt words equal an evaluation label (8 of 8 labels)"."""
    return (f"{overlap['n_shared']} of {overlap['n_words']} prompt words equal an evaluation label "
            f"({overlap['n_shared']} of {overlap['n_labels']} labels; words: {overlap['word_source']})")


def prepare_notion(notion: Notion, dataset: Dataset, prompt_words: str = "all") -> Notion:
    """The notion as evaluated on ``dataset``: label-vocabulary words resolved and, with
    ``prompt_words="strict"``, every word that equals an evaluation label dropped."""
    if prompt_words not in PROMPT_WORDS:
        raise ConfigError(f"prompt_words={prompt_words!r} must be one of {list(PROMPT_WORDS)}")
    notion = notion.for_dataset(dataset)
    if prompt_words == "all":
        return notion
    shared = {normalize_word(w) for w in label_overlap(notion, dataset)["shared"]}
    kept = tuple(w for w in notion.words if normalize_word(w) not in shared)
    if not kept:
        raise ConfigError(
            f"prompt_words='strict' leaves notion {notion.name!r} of dataset {dataset.name!r} without a prompt "
            f"word: all {len(notion.words)} of its words ({notion.word_source}) are evaluation labels. Leave "
            f"the notion out, or give it an independent word list (Notion.with_word_list / with_word_file)")
    return dataclasses.replace(notion, words=kept, word_source=f"{notion.word_source}, strict")


def prompt_subset(prompts: list[str], n_prompts: int | None, seed: int) -> list[str]:
    """``n_prompts`` of the prompts drawn without replacement by ``seed`` (the prompt analysis), in list order;
    all of them for ``None``."""
    if n_prompts is None:
        return list(prompts)
    check_int("n_prompts", n_prompts, hint="or None: all prompts")
    if n_prompts > len(prompts):
        raise ConfigError(f"n_prompts={n_prompts} but the notion has only {len(prompts)} prompts: choose a "
                          "smaller n_prompts")
    chosen = np.random.default_rng(seed).choice(len(prompts), n_prompts, replace=False)
    return [prompts[i] for i in sorted(chosen)]


_NOTIONS: dict[tuple[str, str], Notion] = {}


def register_notion(notion: Notion) -> Notion:
    """Add `notion` to the registry under (dataset, name), replacing an older one; returns it."""
    if not isinstance(notion, Notion):
        raise ConfigError(f"register_notion got {type(notion).__name__}: pass a Notion")
    _NOTIONS[(notion.dataset, notion.name)] = notion
    return notion


def notions_for(dataset: str) -> list[Notion]:
    """The registered notions of `dataset`, in registration order."""
    return [n for (d, _), n in _NOTIONS.items() if d == dataset]


def get_notion(dataset: str, name: str) -> Notion:
    """The registered notion `name` of `dataset`; ConfigError listing the known ones otherwise."""
    if (dataset, name) in _NOTIONS:
        return _NOTIONS[(dataset, name)]
    known = [n.name for n in notions_for(dataset)]
    if known:
        raise ConfigError(
            f"unknown notion {name!r} for dataset {dataset!r}: use one of {', '.join(map(repr, known))}"
        )
    datasets = sorted({d for d, _ in _NOTIONS})
    raise ConfigError(
        f"no notions registered for dataset {dataset!r} (asked for {name!r}): datasets with notions are "
        f"{', '.join(map(repr, datasets))}; build one with notion_from_words and register_notion"
    )


def notion_from_words(dataset: str, label_column: str, template: str, words: Iterable[str] | _LabelVocabulary,
                      name: str | None = None, register: bool = False) -> Notion:
    """A notion for a user's own collection (name defaults to the label column); optionally registered.

    ``words`` may be LABEL_VOCABULARY: the prompts are then built from the labels (see ``Notion.for_dataset``).
    """
    if words is not LABEL_VOCABULARY and not isinstance(words, str):
        words = tuple(words)
    notion = Notion(name=name or label_column, dataset=dataset, label_column=label_column,
                    template=template, words=words)
    return register_notion(notion) if register else notion


SHAPE = register_notion(Notion("shape", SYNTHETIC_SHAPES, "shape", "a photo of a {}", SHAPE_VOCABULARY,
                               "shape vocabulary (8 drawn shapes and 25 distractors)"))
OBJECT_COLOUR = register_notion(
    Notion("object colour", SYNTHETIC_SHAPES, "object_colour", "a {} shape", CSS21_COLOUR_WORDS, "css21_colours")
)
BACKGROUND_COLOUR = register_notion(
    Notion("background colour", SYNTHETIC_SHAPES, "background_colour",
           "a shape in front of a {} background", CSS21_COLOUR_WORDS, "css21_colours")
)

# Composed retrieval (InDiReCT-CIR, ``composed.notion_composed``): the notions of synthetic-shapes-cir are the
# three synthetic-shapes notions above, unchanged, plus a size notion (its factor size_class is small / large)
# whose words are a general size vocabulary (WordNet, see prompts/size_words.txt); GeneCIS's are an attribute
# type each (colour, material) and one object notion, from general lists whose sources the word files name.
SYNTHETIC_SHAPES_CIR, GENECIS = "synthetic-shapes-cir", "genecis"
SYNTHETIC_CIR_NOTIONS: tuple[Notion, ...] = (
    *(register_notion(dataclasses.replace(n, dataset=SYNTHETIC_SHAPES_CIR)) for n in (SHAPE, OBJECT_COLOUR,
                                                                                     BACKGROUND_COLOUR)),
    register_notion(Notion("size", SYNTHETIC_SHAPES_CIR, "size_class", "a {} shape", tuple(word_list("size_words")),
                           "size_words")),
)
"""The notions of synthetic-shapes-cir, one per factor (label column = the factor's name in its manifest)."""
GENECIS_NOTIONS: tuple[Notion, ...] = (
    register_notion(Notion("colour", GENECIS, "colour", "a photo of a {} object", CSS21_COLOUR_WORDS,
                           "css21_colours")),
    register_notion(Notion("material", GENECIS, "material", "a photo of an object made of {}",
                           tuple(word_list("fmd_materials")), "fmd_materials")),
    register_notion(Notion("object", GENECIS, "object", "a photo of a {}", tuple(word_list("coco_categories")),
                           "coco_categories")),
)
"""The notions of GeneCIS (no label columns: GeneCIS has none; the names are what a condition word is matched to)."""

# The paper's 13 notions (protocol sections 2 and 3): templates as the authors wrote them.
SYNTHETIC_CARS, CARS196, INSHOP, CUB200, MOVIE_POSTERS = (
    "synthetic-cars", "cars196", "inshop", "cub200", "movie-posters")


def _from_list(dataset: str, name: str, label_column: str, template: str, list_name: str) -> Notion:
    """Register a paper notion whose words are the shipped word list `list_name`."""
    return register_notion(Notion(name, dataset, label_column, template, tuple(word_list(list_name)), list_name))


def _from_labels(dataset: str, name: str, label_column: str, template: str) -> Notion:
    """Register a paper notion whose words are the evaluated dataset's label vocabulary."""
    return register_notion(Notion(name, dataset, label_column, template, LABEL_VOCABULARY))


PAPER_NOTIONS: tuple[Notion, ...] = (
    _from_list(SYNTHETIC_CARS, "car model", "car_model", "a photo of a {}", "car_models"),
    _from_list(SYNTHETIC_CARS, "car colour", "car_colour", "a {} car", "css21_colours"),
    _from_list(SYNTHETIC_CARS, "background colour", "background_colour",
               "a car in front of a {} background", "css21_colours"),
    _from_list(CARS196, "car model", "class_name", "a photo of a {}", "car_models"),
    _from_list(CARS196, "manufacturer", "manufacturer", "a photo of a car produced by {}", "car_manufacturers"),
    _from_labels(CARS196, "car type", "body_type", "a photo of a {}"),
    _from_list(INSHOP, "clothing category", "category", "a photo of a person wearing a {}", "inshop_categories"),
    _from_list(INSHOP, "texture", "texture",
               "a photo of a person wearing clothes with a {} texture", "inshop_texture"),
    _from_list(INSHOP, "fabric", "fabric", "a photo of a person wearing clothes made out of {}", "inshop_fabric"),
    _from_list(INSHOP, "fit", "fit", "a photo of a person wearing clothes with a {} fit", "inshop_fit"),
    _from_list(CUB200, "bird species", "species", "a photo of a {}", "cub_training_classes"),
    _from_labels(MOVIE_POSTERS, "genre", "genre", "a poster of a {} movie"),
    _from_labels(MOVIE_POSTERS, "production country", "country", "a poster of a movie produced in {}"),
)
"""InDiReCT's 13 notions in the paper's order. Car type, genre and country use the label vocabulary (B7);
texture, fabric and fit use their own attribute words (the fix of B1)."""
