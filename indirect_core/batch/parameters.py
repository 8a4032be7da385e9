"""Notebook parameter checks: run in the first cell so a bad value fails at once, naming the parameter."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..analysis.attribution import METHODS as ATTRIBUTION_METHODS  # noqa: F401 - re-exported for the batch runner
from ..backbone import RANDOM_ARCHITECTURES
from ..data.datasets import available_datasets
from .._util.errors import ConfigError
from ..core.models import MODELS
from ..data.notions import GIVEN_WORDS_SOURCE, Notion, notions_for, read_word_file
from ..data.notions import check_template as notions_check_template

NOTION_SPEC_KEYS = ("name", "template", "words", "label_column", "word_source")
"""Keys of a notion of your own in a plan or a notebook's ``notions``: name, template and words (a list, or a
word file with one word per line) are required; label_column defaults to the name."""



def check_dataset(dataset: Any) -> str:
    """The dataset name must be registered."""
    if not isinstance(dataset, str) or dataset not in available_datasets():
        raise ConfigError(f"parameter dataset={dataset!r} is not a known dataset: use one of {available_datasets()}")
    return dataset


def check_notions(dataset: str, notions: Any) -> list[Notion]:
    """``"all"``, one notion name, or a list of names, each registered for the dataset; an entry may also be a
    notion of your own, ``{"name", "template", "words" (a list or a word file), "label_column"}``."""
    known = notions_for(dataset)
    names = [n.name for n in known]
    if isinstance(notions, str) and notions == "all" or notions is None:
        if not known:
            raise ConfigError(f"parameter notions='all' but dataset {dataset!r} has no registered notions: "
                              "give template and words instead, e.g. notions=[{'name': 'colour', 'template': "
                              "'a photo of a {} object', 'words': 'colours.txt', 'label_column': 'label'}]")
        return known
    wanted = [notions] if isinstance(notions, (str, dict)) else list(notions)
    if not wanted:
        raise ConfigError(f"parameter notions is empty: use 'all' or some of {names}")
    unknown = [n for n in wanted if not isinstance(n, dict) and n not in names]
    if unknown:
        raise ConfigError(f"parameter notions: {unknown} not a notion of dataset {dataset!r}; use 'all', "
                          f"some of {names}, or notions of your own ({{'name', 'template', 'words', "
                          "'label_column'}})")
    chosen = [check_notion_spec(dataset, n, f"notions[{i}].") if isinstance(n, dict) else known[names.index(n)]
              for i, n in enumerate(wanted)]
    repeated = sorted({n.name for n in chosen if [m.name for m in chosen].count(n.name) > 1})
    if repeated:
        raise ConfigError(f"parameter notions names {repeated} more than once: give each notion its own name")
    return chosen


def check_notion_spec(dataset: str, spec: Any, prefix: str = "") -> Notion:
    """A notion of your own from ``{"name", "template", "words", "label_column"}``: words is a list or the
    path of a word file (one word per line); label_column defaults to the name. ``prefix`` names the entry
    in errors (e.g. "notions[0].")."""
    if not isinstance(spec, dict):
        raise ConfigError(f"parameter {prefix.rstrip('.') or 'notion'}={spec!r} must be a mapping with keys "
                          f"name, template, words (and label_column)")
    unknown = sorted(set(spec) - set(NOTION_SPEC_KEYS))
    missing = [k for k in ("name", "template", "words") if spec.get(k) is None]
    if unknown or missing:
        raise ConfigError(f"parameter {prefix.rstrip('.') or 'notion'}: " + (f"unknown key(s) {unknown}; " if unknown
                          else "") + (f"missing {missing}; " if missing else "") +
                          f"a notion of your own has keys {list(NOTION_SPEC_KEYS[:4])}")
    name = spec["name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"parameter {prefix}name={name!r} must be a non-empty string, e.g. 'colour'")
    template = check_template(spec["template"], f"{prefix}template")
    words, source = spec["words"], spec.get("word_source") or GIVEN_WORDS_SOURCE
    if isinstance(words, (str, Path)):
        words, source = read_word_file(Path(words).expanduser()), spec.get("word_source") or str(words)
    words = check_words(words, f"{prefix}words")
    return Notion(name, dataset, spec.get("label_column") or name, template, tuple(words), word_source=source)


def resolve_word_files(notions: Any, base: str | Path) -> Any:
    """``notions`` with each own notion's word file (relative to ``base``, e.g. the plan's folder) read into its
    word list (``word_source`` keeps the file's path), so a changed file changes the job's parameters."""
    if not isinstance(notions, (list, dict)):
        return notions
    entries = [notions] if isinstance(notions, dict) else notions
    resolved = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("words"), str):
            path = Path(entry["words"]).expanduser()
            path = path if path.is_absolute() else Path(base) / path
            entry = {**entry, "words": read_word_file(path), "word_source": entry.get("word_source") or str(path)}
        resolved.append(entry)
    return resolved


def notion_parameter(notion: Notion) -> str | dict:
    """What a notebook's ``notions`` gets for a notion: its name when it is registered for its dataset, else
    its spec (name, template, words, label_column, word_source)."""
    if notion in notions_for(notion.dataset):
        return notion.name
    return {"name": notion.name, "template": notion.template, "words": list(notion.words),
            "label_column": notion.label_column, "word_source": notion.word_source}


def dataset_root(root: Any, data_dir: str | Path | None) -> str | None:
    """A plan's dataset root as an absolute path: ``~`` expanded, a relative root taken under ``data_dir``
    (default ./data), so notebooks running in their job folders find it."""
    if root is None:
        return None
    path = Path(str(root)).expanduser()
    return str(path if path.is_absolute() else (Path(data_dir or "data") / path).resolve())


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


def check_choices(name: str, values: Any, choices: Sequence[str]) -> list[str]:
    """A non-empty list of strings, each one of a fixed set (one string counts as a list of one)."""
    chosen = [values] if isinstance(values, str) else list(values) if isinstance(values, (list, tuple)) else None
    if not chosen or any(v not in choices for v in chosen):
        raise ConfigError(f"parameter {name}={values!r} must be a non-empty list of some of {list(choices)}")
    return chosen


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
