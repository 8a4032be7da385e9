"""The checks a declaration uses, built on ``_util.validation``: numbers, choices, texts and paths, and the domain
checks (dataset, backbone, notions, template, words). A check that needs a registry imports it when it runs, so
the declarations import without torch.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from ..._util.errors import ConfigError
from ..._util.validation import (check_choice, check_choices, check_int, check_mapping, check_number,
                                check_optional_int, is_int)
from .declaration import Check, Label


def _int_words(minimum: int) -> str:
    return {0: "integer >= 0", 1: "integer >= 1"}.get(minimum, f"integer >= {minimum}")


def integer(minimum: int = 1) -> Check:
    """An int of at least ``minimum``."""
    return Check(lambda label, value: check_int(label, value, minimum), _int_words(minimum), {"type": int})


def optional_integer(minimum: int = 1) -> Check:
    """``None`` or an int of at least ``minimum``."""
    return Check(lambda label, value: check_optional_int(label, value, minimum), f"None or {_int_words(minimum)}",
                 {"type": int})


def number(minimum: float | None = None, above: float | None = None) -> Check:
    """A finite number within the bounds, as a float."""
    words = "number" + (f" >= {minimum}" if minimum is not None else "") + (f" > {above}" if above is not None else "")
    return Check(lambda label, value: check_number(label, value, minimum=minimum, above=above), words,
                 {"type": float})


def _options(options: Sequence[Any] | Callable[[], Sequence[Any]]) -> Callable[[], list]:
    return (lambda: list(options())) if callable(options) else (lambda: list(options))


def one_of(values: Sequence[Any]) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def choice(options: Sequence[Any] | Callable[[], Sequence[Any]]) -> Check:
    """One of ``options`` (a sequence, or a function returning one, called when a value is checked)."""
    allowed = _options(options)
    return Check(lambda label, value: check_choice(label, value, allowed()), lambda: one_of(allowed()),
                 {} if callable(options) else {"choices": list(options)})


def optional_choice(options: Sequence[Any]) -> Check:
    """``None`` or one of ``options``."""
    return Check(lambda label, value: None if value is None else check_choice(label, value, list(options)),
                 f"None or {one_of(options)}")


def subset(options: Callable[[], Sequence[Any]]) -> Check:
    """``"all"`` (every option, in their order) or a non-empty list of some of them, each once."""
    def check(label: str, value: Any) -> list:
        return list(options()) if value == "all" else check_choices(label, value, list(options()))

    return Check(check, lambda: f"'all' or a list of some of {one_of(list(options()))}", {"nargs": "*"})


def mapping(example: str = "{}") -> Check:
    """A mapping (``None`` is an empty one), copied."""
    return Check(check_mapping, f"mapping, e.g. {example}")


def _check_flag(label: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{label}={value!r} must be True or False")
    return value


FLAG = Check(_check_flag, "True or False")


def _check_text(label: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{label}={value!r} must be a non-empty string")
    return value


def optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda label, value: None if value is None else check(label, value)


TEXT = Check(_check_text, "non-empty string")


OPTIONAL_TEXT = Check(optional(_check_text), "None or non-empty string")


def _check_path(label: str, value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{label}={value!r} must be a path (a non-empty string)")
    return value


PATH = Check(_check_path, "path")


OPTIONAL_PATH = Check(optional(_check_path), "None or path")


def check_paths(label: str, value: Any) -> list[str]:
    values = [] if value is None else [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{label}={value!r} must be a list of folders, e.g. ['spaces/colour']")
    return [_check_path(f"{label}[{i}]", v) for i, v in enumerate(values)]


def check_own_notions(label: str, value: Any) -> list:
    if not isinstance(value, (list, tuple)) or any(not isinstance(v, dict) for v in value):
        raise ConfigError(f"{label}={value!r} must be a list of notions of your own, e.g. [{{'name': 'colour', "
                          "'template': 'a photo of a {} object', 'words': ['red', 'green']}]")
    return list(value)


def check_auto_or_int(label: str, value: Any) -> str | int:
    return value if value == "auto" else check_int(label, value, hint="or 'auto': one per core")


def check_query(label: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{label}={value!r} must be a non-empty text, 'auto' or None")
    return value


def check_image_ids(label: str, value: Any) -> list[int]:
    if not isinstance(value, (list, tuple)) or not value or any(not is_int(i) or i < 0 for i in value):
        raise ConfigError(f"{label}={value!r} must be a non-empty list of image indices >= 0, e.g. [0, 1, 2]")
    return [int(i) for i in value]


def check_ks(label: str, value: Any) -> dict[str, list[int]]:
    ks = check_mapping(label, value)
    for family, values in ks.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"{label}.{family} must be a list of K, e.g. [1, 5, 10], got {values!r}")
        ks[family] = [check_int(f"{label}.{family}", k) for k in values]
    return ks


def datasets() -> list[str]:
    from ...data.datasets import available_datasets

    return list(available_datasets())


def check_dataset(label: str, value: Any) -> str:
    """A registered dataset name."""
    if not isinstance(value, str) or value not in datasets():
        raise ConfigError(f"{label}={value!r} is not a known dataset: use one of {datasets()}")
    return value


def check_backbone(label: str, value: Any) -> str:
    """A non-empty backbone spec (names and paths are resolved when loading)."""
    if not isinstance(value, str) or not value.strip():
        from ...backbone import RANDOM_ARCHITECTURES

        raise ConfigError(f"{label}={value!r}: use a CLIP name such as 'ViT-B/32', a checkpoint path, 'auto', 'shapes-clip' or "
                          f"one of {list(RANDOM_ARCHITECTURES)}")
    return value


NOTION_SPEC_KEYS = ("name", "template", "words", "label_column", "word_source")
"""Keys of a notion of your own in a plan or a notebook's ``notions``: name, template and words (a list, or a
word file with one word per line) are required; label_column defaults to the name."""


def check_notions_value(label: str, value: Any) -> str | dict | list:
    if isinstance(value, (str, dict)):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, dict)) for v in value):
        return list(value)
    raise ConfigError(f"{label}={value!r} must be 'all', a notion name, a notion of your own ({{'name', "
                      "'template', 'words', 'label_column'}) or a non-empty list of them")


def check_notions(dataset: str, notions: Any, label: str = "parameter notions") -> list:
    """``"all"``, one notion name, or a list of names, each registered for the dataset; an entry may also be a
    notion of your own, ``{"name", "template", "words" (a list or a word file), "label_column"}``. Returns the
    ``Notion`` objects."""
    from ...data.notions import notions_for

    known = notions_for(dataset)
    names = [n.name for n in known]
    if isinstance(notions, str) and notions == "all":
        if not known:
            raise ConfigError(f"{label}='all' but dataset {dataset!r} has no registered notions: give template "
                              "and words instead, e.g. notions=[{'name': 'colour', 'template': 'a photo of a {} "
                              "object', 'words': 'colours.txt', 'label_column': 'label'}]")
        return known
    wanted = [notions] if isinstance(notions, (str, dict)) else list(notions)
    if not wanted:
        raise ConfigError(f"{label} is empty: use 'all' or some of {names}")
    unknown = [n for n in wanted if not isinstance(n, dict) and n not in names]
    if unknown:
        raise ConfigError(f"{label}: {unknown} not a notion of dataset {dataset!r}; use 'all', some of {names}, "
                          "or notions of your own ({'name', 'template', 'words', 'label_column'})")
    chosen = [check_notion_spec(dataset, n, f"{label}[{i}]") if isinstance(n, dict) else known[names.index(n)]
              for i, n in enumerate(wanted)]
    repeated = sorted({n.name for n in chosen if [m.name for m in chosen].count(n.name) > 1})
    if repeated:
        raise ConfigError(f"{label} names {repeated} more than once: give each notion its own name")
    return chosen


def check_notion(dataset: str, name: Any, label: str = "parameter notion") -> Any:
    """One notion registered for the dataset, by name."""
    from ...data.notions import notions_for

    known = {n.name: n for n in notions_for(dataset)}
    if not isinstance(name, str) or name not in known:
        raise ConfigError(f"{label}={name!r} is not a notion of dataset {dataset!r}: use one of {list(known)}, or "
                          "give template and words for a notion of your own")
    return known[name]


def check_notion_spec(dataset: str, spec: Any, label: str | Label = "parameter notion") -> Any:
    """A notion of your own from ``{"name", "template", "words", "label_column"}``: words is a list or the
    path of a word file (one word per line); label_column defaults to the name. ``label`` names the spec in
    errors ("parameter notions[0]"), or is a function naming each key (where they are parameters of their own)."""
    from ...data.notions import GIVEN_WORDS_SOURCE, Notion, read_words

    key_label = label if callable(label) else (lambda key: f"{label}.{key}")
    where = label if isinstance(label, str) else key_label("notion")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}={spec!r} must be a mapping with keys name, template, words (and label_column)")
    unknown = sorted(set(spec) - set(NOTION_SPEC_KEYS))
    missing = [k for k in ("name", "template", "words") if spec.get(k) is None]
    if unknown or missing:
        raise ConfigError(f"{where}: " + (f"unknown key(s) {unknown}; " if unknown else "") +
                          (f"missing {missing}; " if missing else "") +
                          f"a notion of your own has keys {list(NOTION_SPEC_KEYS[:4])}")
    name = spec["name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{key_label('name')}={name!r} must be a non-empty string, e.g. 'colour'")
    template = check_template(key_label("template"), spec["template"])
    words, source = spec["words"], spec.get("word_source") or GIVEN_WORDS_SOURCE
    if isinstance(words, (str, Path)):
        words, source = read_words(Path(words).expanduser()), spec.get("word_source") or str(words)
    words = check_words(key_label("words"), words)
    return Notion(name, dataset, spec.get("label_column") or name, template, tuple(words), word_source=source)


def check_template(label: str, template: Any) -> str:
    """A prompt template with exactly one ``{}`` (the one rule of ``notions.check_template``)."""
    from ...data.notions import check_template as notions_check_template

    return notions_check_template(template, f"{label}={template!r}")


def check_words(label: str, words: Any) -> list[str]:
    """A non-empty list of non-empty strings."""
    if isinstance(words, str) or not isinstance(words, Sequence) or not words:
        raise ConfigError(f"{label}={words!r} must be a non-empty list of words, e.g. ['red', 'blue']")
    if any(not isinstance(w, str) or not w.strip() for w in words):
        raise ConfigError(f"{label} holds empty or non-string entries: {list(words)[:5]}")
    return list(words)


def check_words_or_file(label: str, value: Any) -> list[str] | str | None:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return _check_path(label, value)
    return check_words(label, value)


def model_keys() -> list[str]:
    from ...core.models import MODELS

    return list(MODELS)


def indirect_keys() -> tuple[str, ...]:
    """The model keys of InDiReCT's two solvers ("indirect", the authors' procedure; "indirect-lbfgs", ours)."""
    from ...core.models import INDIRECT_KEYS

    return INDIRECT_KEYS


def prompt_words() -> tuple[str, ...]:
    from ...data.notions import PROMPT_WORDS

    return PROMPT_WORDS


def attribution_methods() -> tuple[str, ...]:
    from ...analysis.attribution import METHODS

    return METHODS


def engines() -> tuple[str, ...]:
    from ...engines import available_engines

    return available_engines()


def benchmarks() -> list[str]:
    from ...composed.benchmarks import available_benchmarks

    return available_benchmarks()


def composed_methods() -> list[str]:
    from ...composed.study import method_keys

    return method_keys()


def mapper_methods() -> tuple[str, ...]:
    from ...composed.methods import MAPPER_METHODS

    return MAPPER_METHODS
