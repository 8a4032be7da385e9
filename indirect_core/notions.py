"""Similarity notions: a label column of a dataset described only by a prompt template and a word list.

InDiReCT needs nothing but these prompts to build its projection; the label column is used for evaluation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from indirect_core.datasets import SYNTHETIC_SHAPES, Dataset
from indirect_core.errors import ConfigError, DatasetError
from indirect_core.synthetic_shapes import CSS21_COLOURS, SHAPE_VOCABULARY

CSS21_COLOUR_WORDS: tuple[str, ...] = tuple(CSS21_COLOURS)
"""The 17 CSS 2.1 colour names (aqua, black, blue, ... white, yellow), the colour prompt words."""


def _check_template(template: object, notion: str) -> None:
    """A template must be a string with exactly one "{}" and no other format fields."""
    example = 'use e.g. "a photo of a {}"'
    if not isinstance(template, str) or template.count("{}") != 1:
        raise ConfigError(
            f"prompt template {template!r} of notion {notion!r} must contain exactly one {{}} placeholder: {example}"
        )
    try:
        template.format("word")
    except (IndexError, KeyError, ValueError) as exc:
        raise ConfigError(
            f"prompt template {template!r} of notion {notion!r} has stray braces ({exc}): "
            f"keep only the one {{}} placeholder, {example}"
        ) from exc


@dataclass(frozen=True)
class Notion:
    """One similarity notion: which label column of which dataset, and the prompts that describe it."""

    name: str
    dataset: str
    label_column: str
    template: str
    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"notion name {self.name!r} is invalid: pass a non-empty string, e.g. 'shape'")
        if isinstance(self.words, str):
            raise ConfigError(
                f"words for notion {self.name!r} is the single string {self.words!r}: pass a list of words"
            )
        object.__setattr__(self, "words", tuple(self.words))
        _check_template(self.template, self.name)
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
    def prompts(self) -> list[str]:
        """template.format(word) for each word, in order, duplicates removed (first occurrence kept)."""
        return list(dict.fromkeys(self.template.format(w) for w in self.words))

    def labels(self, dataset: Dataset) -> np.ndarray:
        """This notion's label column of `dataset` as a numpy array of str."""
        if self.label_column not in dataset.labels.columns:
            raise DatasetError(
                f"dataset {dataset.name!r} (root {dataset.root}) has no label column {self.label_column!r} "
                f"needed by notion {self.name!r} (columns: {', '.join(map(str, dataset.labels.columns))}): "
                f"pick a notion whose label_column exists"
            )
        return np.asarray(dataset.labels[self.label_column].astype(str).to_numpy(), dtype=str)

    def with_prompts(self, template: str | None = None, words: Iterable[str] | None = None) -> "Notion":
        """A copy with a custom template and/or word list (validated like any notion)."""
        return dataclasses.replace(
            self,
            template=self.template if template is None else template,
            words=self.words if words is None else tuple(words),
        )


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


def notion_from_words(dataset: str, label_column: str, template: str, words: Iterable[str],
                      name: str | None = None, register: bool = False) -> Notion:
    """A notion for a user's own collection (name defaults to the label column); optionally registered."""
    notion = Notion(name=name or label_column, dataset=dataset, label_column=label_column,
                    template=template, words=tuple(words))
    return register_notion(notion) if register else notion


def read_word_file(path: str | Path) -> list[str]:
    """Words from a text file, one per line; blank lines and '#' comments are ignored."""
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"word file {file} does not exist: create it with one prompt word per line")
    words = []
    for line in file.read_text(encoding="utf-8").splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            words.append(word)
    if not words:
        raise DatasetError(f"word file {file} holds no words: write one prompt word per line")
    return words


SHAPE = register_notion(Notion("shape", SYNTHETIC_SHAPES, "shape", "a photo of a {}", SHAPE_VOCABULARY))
OBJECT_COLOUR = register_notion(
    Notion("object colour", SYNTHETIC_SHAPES, "object_colour", "a {} shape", CSS21_COLOUR_WORDS)
)
BACKGROUND_COLOUR = register_notion(
    Notion("background colour", SYNTHETIC_SHAPES, "background_colour",
           "a shape in front of a {} background", CSS21_COLOUR_WORDS)
)
