"""Notebook parameter checks: run in the first cell so a bad value fails at once, naming the parameter."""
from __future__ import annotations

from typing import Any, Sequence

from .attribution import METHODS as ATTRIBUTION_METHODS  # noqa: F401 - re-exported for the batch runner
from .backbone import RANDOM_ARCHITECTURES
from .datasets import available_datasets
from .errors import ConfigError
from .models import MODELS
from .notions import Notion, notions_for
from .notions import check_template as notions_check_template



def check_dataset(dataset: Any) -> str:
    """The dataset name must be registered."""
    if not isinstance(dataset, str) or dataset not in available_datasets():
        raise ConfigError(f"parameter dataset={dataset!r} is not a known dataset: use one of {available_datasets()}")
    return dataset


def check_notions(dataset: str, notions: Any) -> list[Notion]:
    """``"all"``, one notion name, or a list of names, each registered for the dataset."""
    known = notions_for(dataset)
    names = [n.name for n in known]
    if notions in ("all", None):
        if not known:
            raise ConfigError(f"parameter notions='all' but dataset {dataset!r} has no registered notions: "
                              "give template and words instead")
        return known
    wanted = [notions] if isinstance(notions, str) else list(notions)
    if not wanted:
        raise ConfigError(f"parameter notions is empty: use 'all' or some of {names}")
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise ConfigError(f"parameter notions: {unknown} not a notion of dataset {dataset!r}; use 'all' or "
                          f"some of {names}")
    return [known[names.index(n)] for n in wanted]


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer of at least ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"parameter {name}={value!r} must be an integer >= {minimum}")
    return value


def check_template(template: Any, name: str = "template") -> str:
    """A prompt template with exactly one ``{}`` (the one rule of ``notions.check_template``)."""
    return notions_check_template(template, f"parameter {name}={template!r}")


def check_words(words: Any, name: str = "words") -> list[str]:
    """A non-empty list of non-empty strings."""
    if isinstance(words, str) or not isinstance(words, Sequence) or not words:
        raise ConfigError(f"parameter {name}={words!r} must be a non-empty list of words, e.g. ['red', 'blue']")
    if any(not isinstance(w, str) or not w.strip() for w in words):
        raise ConfigError(f"parameter {name} holds empty or non-string entries: {list(words)[:5]}")
    return list(words)


def check_models(models: Any) -> list[str]:
    """Model keys known to the registry."""
    chosen = [models] if isinstance(models, str) else list(models or [])
    unknown = [m for m in chosen if m not in MODELS]
    if not chosen or unknown:
        raise ConfigError(f"parameter models={models!r}: use some of {list(MODELS)}")
    return chosen


def check_backbone(backbone: Any) -> str:
    """A non-empty backbone spec (names and paths are resolved when loading)."""
    if not isinstance(backbone, str) or not backbone.strip():
        raise ConfigError(f"parameter backbone={backbone!r}: use a CLIP name such as 'ViT-B/32', a checkpoint "
                          f"path, 'auto' or one of {list(RANDOM_ARCHITECTURES)}")
    return backbone


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of a fixed set of strings."""
    if value not in choices:
        raise ConfigError(f"parameter {name}={value!r} must be one of {list(choices)}")
    return value


def check_fraction(name: str, value: Any) -> float:
    """A non-negative number (noise levels and the like)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"parameter {name}={value!r} must be a number >= 0")
    return float(value)


def check_dict(name: str, value: Any) -> dict:
    """A mapping (``None`` counts as empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"parameter {name}={value!r} must be a dict, e.g. {{}} or {{'n_images': 60}}")
    return value
