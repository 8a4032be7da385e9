"""One declaration per notebook parameter: its default, the check that validates and normalises a value, and a
line of help, grouped per notebook (``01_cache_embeddings`` ... ``07_explore``); a parameter several notebooks
take is declared once and shared. Everything that sets a notebook parameter reads these declarations:

- each notebook's check cell, ``params = check.notebook_parameters("03_evaluate", globals())``: the names set in
  the parameters cell (or by papermill) are checked, every other parameter takes its default, a name the
  notebook does not take is refused, and a table shows every value;
- the plan loader (``batch.plans``): a plan's defaults and checks, and every job's parameters checked before
  anything runs;
- the command line's ``experiment`` options (``apps.cli``): notebook 03's defaults and help;
- ``docs/PARAMETERS.md`` (``parameters_markdown``, printed by ``python -m indirect_core parameters``).

A check takes ``(label, value)``: ``label`` names the value in its error, so an error reads
"parameter n_components=0 must be a positive integer" in a notebook and "plan demo.yaml: seeds=0 must be ..." in
a plan. Importable without torch: a check that needs a registry (models, benchmarks, attribution methods)
imports it when it runs.
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import html
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .._util.errors import ConfigError
from .._util.validation import (check_choice, check_choices, check_int, check_mapping, check_number,
                                check_optional_int, is_int)

Label = Callable[[str], str]
"""How an error names a parameter, given its name: ``parameter n_components`` in a notebook."""


def in_notebook(name: str) -> str:
    """The label of a parameter in a notebook: ``parameter NAME``."""
    return f"parameter {name}"


DOCS = "docs/PARAMETERS.md"
"""The table of every notebook's parameters, generated from these declarations."""

TABLE_CLASS = "indirect-parameters"
"""CSS class of the parameters table a notebook's check cell shows (tests leave it out of the page's prose)."""


# ---------------------------------------------------------------------- the declaration types


@dataclass(frozen=True)
class Check:
    """How one parameter's value is checked: ``function(label, value)`` returns the value normalised or raises
    ConfigError naming ``label``; ``accepts`` says in words what it takes (the docs table), a callable when the
    choices come from a registry; ``cli`` holds the argparse keywords that read it from a command line."""

    function: Callable[[str, Any], Any]
    accepts: str | Callable[[], str]
    cli: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, label: str, value: Any) -> Any:
        return self.function(label, value)

    def describe(self) -> str:
        return self.accepts() if callable(self.accepts) else self.accepts


@dataclass(frozen=True)
class Parameter:
    """A notebook parameter: its name, its default, its check and one line of help."""

    name: str
    default: Any
    check: Check
    help: str

    def validate(self, value: Any, label: str | None = None) -> Any:
        """``value`` checked and normalised; an error names ``label`` (default ``parameter NAME``)."""
        return self.check(label or in_notebook(self.name), value)

    def fresh_default(self) -> Any:
        """A copy of the default (a notebook may change its ``{}`` without changing the declaration)."""
        return copy.deepcopy(self.default)

    def but(self, **changes: Any) -> "Parameter":
        """The same parameter with other help (or check) where a notebook says more about it."""
        return dataclasses.replace(self, **changes)


Rules = Callable[[dict, Label, bool], dict]
"""A notebook's cross-parameter rules: ``(checked values, label, files)`` -> the values the notebook derives
from them (e.g. the resolved notions); ``files`` False skips what reads files a plan's run creates or --check
reports (training data)."""


@dataclass(frozen=True)
class Notebook:
    """A notebook's parameters in the order its table lists them, and its cross-parameter rules."""

    name: str
    parameters: dict[str, Parameter]
    rules: Rules | None = None

    def __getitem__(self, name: str) -> Parameter:
        if name not in self.parameters:
            raise ConfigError(f"{name!r} is not a parameter of notebook {self.name}: its parameters are "
                              f"{', '.join(self.parameters)} ({DOCS})")
        return self.parameters[name]


def _notebook(name: str, parameters: Sequence[Parameter], rules: Rules | None = None) -> Notebook:
    return Notebook(name, {p.name: p for p in parameters}, rules)


@dataclass(frozen=True)
class CheckedParameters:
    """A notebook's parameters after the check: ``values`` (every parameter, normalised) and, as attributes,
    what the notebook derives from them (e.g. ``params.notions``, the resolved notions)."""

    notebook: str
    values: dict[str, Any]
    derived: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        derived = self.__dict__.get("derived", {})
        if name in derived:
            return derived[name]
        raise AttributeError(f"checked parameters of {self.__dict__.get('notebook')} derive no {name!r}: "
                             f"they derive {sorted(derived)}; the parameter values are in .values")

    def rows(self) -> list[tuple[str, str, str | None, str]]:
        """(name, value, default when the value differs from it, help) per parameter, values as Python shows
        them, long ones shortened."""
        declared = NOTEBOOK_PARAMETERS[self.notebook]
        rows = []
        for name, value in self.values.items():
            parameter = declared[name]
            default = parameter.validate(parameter.fresh_default())
            rows.append((name, _shown(value), None if _same(value, default) else _shown(parameter.default),
                         parameter.help))
        return rows

    def changed(self) -> dict[str, Any]:
        """The parameters whose value differs from their default."""
        return {name: self.values[name] for name, _, default, _ in self.rows() if default is not None}

    def table(self) -> str:
        """Every parameter on one line: name, value (and its default when different), help."""
        rows = self.rows()
        shown = [(name, _clip(value + (f"  (default {default})" if default is not None else "")))
                 for name, value, default, _ in rows]
        width, value_width = max(len(name) for name, _ in shown), max(len(value) for _, value in shown)
        changed = sum(default is not None for _, _, default, _ in rows)
        lines = [f"{self.notebook}: {len(rows)} parameters, {changed} not at their default ({DOCS})"]
        lines += [f"{'*' if row[2] is not None else ' '} {name:<{width}}  {value:<{value_width}}  {row[3]}"
                  for (name, value), row in zip(shown, rows)]
        return "\n".join(lines)

    def html(self) -> str:
        """The table, collapsed under a summary naming the parameters that differ from their defaults (plain
        text in a ``<pre>``: long values wrap rather than widen the page)."""
        rows = self.rows()
        changed = [name for name, _, default, _ in rows if default is not None]
        summary = f"Parameters of {self.notebook}: " + (
            f"{', '.join(changed)} not at their defaults ({len(changed)} of {len(rows)}; open for every value)"
            if changed else f"all {len(rows)} at their defaults (open for every value)")
        return (f"<details class='{TABLE_CLASS}'><summary>{html.escape(summary)}</summary>"
                f"<pre style='font-family:monospace;font-size:12px'>{html.escape(self.table())}</pre></details>")

    def show(self) -> None:
        """Display the table: in a notebook as collapsed HTML (with the plain table beside it for other
        front ends), elsewhere printed."""
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython comes with the notebooks extra
            get_ipython = None
        if get_ipython is None or get_ipython() is None:
            print(self.table())
        else:
            display({"text/html": self.html(), "text/plain": self.table()}, raw=True)


def _clip(text: str, limit: int = 56) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _shown(value: Any) -> str:
    return _clip(repr(value))


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - values without a plain equality count as different
        return False


# ---------------------------------------------------------------------- checks, built on _util.validation


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


def _or(values: Sequence[Any]) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def choice(options: Sequence[Any] | Callable[[], Sequence[Any]]) -> Check:
    """One of ``options`` (a sequence, or a function returning one, called when a value is checked)."""
    allowed = _options(options)
    return Check(lambda label, value: check_choice(label, value, allowed()), lambda: _or(allowed()),
                 {} if callable(options) else {"choices": list(options)})


def optional_choice(options: Sequence[Any]) -> Check:
    """``None`` or one of ``options``."""
    return Check(lambda label, value: None if value is None else check_choice(label, value, list(options)),
                 f"None or {_or(options)}")


def subset(options: Callable[[], Sequence[Any]]) -> Check:
    """``"all"`` (every option, in their order) or a non-empty list of some of them, each once."""
    def check(label: str, value: Any) -> list:
        return list(options()) if value == "all" else check_choices(label, value, list(options()))

    return Check(check, lambda: f"'all' or a list of some of {_or(list(options()))}", {"nargs": "*"})


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


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda label, value: None if value is None else check(label, value)


TEXT = Check(_check_text, "non-empty string")
OPTIONAL_TEXT = Check(_optional(_check_text), "None or non-empty string")


def _check_path(label: str, value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{label}={value!r} must be a path (a non-empty string)")
    return value


PATH = Check(_check_path, "path")
OPTIONAL_PATH = Check(_optional(_check_path), "None or path")


def _check_paths(label: str, value: Any) -> list[str]:
    values = [] if value is None else [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{label}={value!r} must be a list of folders, e.g. ['spaces/colour']")
    return [_check_path(f"{label}[{i}]", v) for i, v in enumerate(values)]


def _check_own_notions(label: str, value: Any) -> list:
    if not isinstance(value, (list, tuple)) or any(not isinstance(v, dict) for v in value):
        raise ConfigError(f"{label}={value!r} must be a list of notions of your own, e.g. [{{'name': 'colour', "
                          "'template': 'a photo of a {} object', 'words': ['red', 'green']}]")
    return list(value)


def _check_auto_or_int(label: str, value: Any) -> str | int:
    return value if value == "auto" else check_int(label, value, hint="or 'auto': one per core")


def _check_query(label: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{label}={value!r} must be a non-empty text, 'auto' or None")
    return value


def _check_image_ids(label: str, value: Any) -> list[int]:
    if not isinstance(value, (list, tuple)) or not value or any(not is_int(i) or i < 0 for i in value):
        raise ConfigError(f"{label}={value!r} must be a non-empty list of image indices >= 0, e.g. [0, 1, 2]")
    return [int(i) for i in value]


def _check_ks(label: str, value: Any) -> dict[str, list[int]]:
    ks = check_mapping(label, value)
    for family, values in ks.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"{label}.{family} must be a list of K, e.g. [1, 5, 10], got {values!r}")
        ks[family] = [check_int(f"{label}.{family}", k) for k in values]
    return ks


# ---------------------------------------------------------------------- domain checks


def _datasets() -> list[str]:
    from ..data.datasets import available_datasets

    return list(available_datasets())


def check_dataset(label: str, value: Any) -> str:
    """A registered dataset name."""
    if not isinstance(value, str) or value not in _datasets():
        raise ConfigError(f"{label}={value!r} is not a known dataset: use one of {_datasets()}")
    return value


def check_backbone(label: str, value: Any) -> str:
    """A non-empty backbone spec (names and paths are resolved when loading)."""
    if not isinstance(value, str) or not value.strip():
        from ..backbone import RANDOM_ARCHITECTURES

        raise ConfigError(f"{label}={value!r}: use a CLIP name such as 'ViT-B/32', a checkpoint path, 'auto' or "
                          f"one of {list(RANDOM_ARCHITECTURES)}")
    return value


NOTION_SPEC_KEYS = ("name", "template", "words", "label_column", "word_source")
"""Keys of a notion of your own in a plan or a notebook's ``notions``: name, template and words (a list, or a
word file with one word per line) are required; label_column defaults to the name."""


def _check_notions_value(label: str, value: Any) -> str | dict | list:
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
    from ..data.notions import notions_for

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
    from ..data.notions import notions_for

    known = {n.name: n for n in notions_for(dataset)}
    if not isinstance(name, str) or name not in known:
        raise ConfigError(f"{label}={name!r} is not a notion of dataset {dataset!r}: use one of {list(known)}, or "
                          "give template and words for a notion of your own")
    return known[name]


def check_notion_spec(dataset: str, spec: Any, label: str | Label = "parameter notion") -> Any:
    """A notion of your own from ``{"name", "template", "words", "label_column"}``: words is a list or the
    path of a word file (one word per line); label_column defaults to the name. ``label`` names the spec in
    errors ("parameter notions[0]"), or is a function naming each key (where they are parameters of their own)."""
    from ..data.notions import GIVEN_WORDS_SOURCE, Notion, read_word_file

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
        words, source = read_word_file(Path(words).expanduser()), spec.get("word_source") or str(words)
    words = check_words(key_label("words"), words)
    return Notion(name, dataset, spec.get("label_column") or name, template, tuple(words), word_source=source)


def check_template(label: str, template: Any) -> str:
    """A prompt template with exactly one ``{}`` (the one rule of ``notions.check_template``)."""
    from ..data.notions import check_template as notions_check_template

    return notions_check_template(template, f"{label}={template!r}")


def check_words(label: str, words: Any) -> list[str]:
    """A non-empty list of non-empty strings."""
    if isinstance(words, str) or not isinstance(words, Sequence) or not words:
        raise ConfigError(f"{label}={words!r} must be a non-empty list of words, e.g. ['red', 'blue']")
    if any(not isinstance(w, str) or not w.strip() for w in words):
        raise ConfigError(f"{label} holds empty or non-string entries: {list(words)[:5]}")
    return list(words)


def _check_words_or_file(label: str, value: Any) -> list[str] | str | None:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return _check_path(label, value)
    return check_words(label, value)


def _model_keys() -> list[str]:
    from ..core.models import MODELS

    return list(MODELS)


def indirect_keys() -> tuple[str, ...]:
    """The model keys of InDiReCT's two solvers ("indirect", the authors' procedure; "indirect-lbfgs", ours)."""
    from ..analysis.study import INDIRECT_KEYS

    return INDIRECT_KEYS


def _prompt_words() -> tuple[str, ...]:
    from ..data.notions import PROMPT_WORDS

    return PROMPT_WORDS


def _attribution_methods() -> tuple[str, ...]:
    from ..analysis.attribution import METHODS

    return METHODS


def _engines() -> tuple[str, ...]:
    from ..engines import available_engines

    return available_engines()


def _benchmarks() -> list[str]:
    from ..composed.benchmarks import available_benchmarks

    return available_benchmarks()


def _composed_methods() -> list[str]:
    from ..composed.study import method_keys

    return method_keys()


def _mapper_methods() -> tuple[str, ...]:
    from ..composed.methods import MAPPER_METHODS

    return MAPPER_METHODS


# ---------------------------------------------------------------------- shared declarations

ON_ERROR = ("raise", "skip")
"""What happens to an unreadable image: stop, naming the file, or leave it out and list it."""

DATASET = Parameter("dataset", "synthetic-shapes", Check(check_dataset, lambda: _or(_datasets())),
                    "the dataset (image-folder and image-csv hold your own labelled images)")
DATASET_OPTIONS = Parameter("dataset_options", {}, mapping("{'n_images': 60}"),
                            "the dataset loader's options, e.g. {'n_images': 60} for synthetic-shapes")
DATA_ROOT = Parameter("data_root", None, OPTIONAL_PATH, "the dataset's folder or CSV (None: its default place)")
NOTIONS = Parameter("notions", "all", Check(_check_notions_value, "'all', notion names, or notions of your own",
                                            {"nargs": "*"}),
                    "'all', notion names of the dataset, or your own: {'name', 'template', 'words' (list or "
                    "word file), 'label_column'}")
BACKBONE = Parameter("backbone", "auto", Check(check_backbone, "CLIP name, checkpoint path, 'random-tiny' or 'auto'"),
                     "CLIP name ('ViT-B/32'), checkpoint path, 'random-tiny' or 'auto' (ViT-B/32 if its weights "
                     "are here, else random-tiny)")
CACHE_DIR = Parameter("cache_dir", None, OPTIONAL_PATH, "embedding cache folder (None: data/cache)")
DEVICE = Parameter("device", "cpu", TEXT, "torch device, e.g. 'cpu' or 'cuda'")
BATCH_SIZE = Parameter("batch_size", 64, integer(), "images per batch when embedding")
NUM_WORKERS = Parameter("num_workers", 1, integer(0), "image-loading worker processes (0: in the kernel)")
ON_ERROR_PARAMETER = Parameter("on_error", "raise", choice(ON_ERROR),
                               "unreadable images: 'raise' (stop, naming the file) or 'skip' (leave them out, "
                               "listed)")
MODEL = Parameter("model", "indirect", choice(indirect_keys),
                  "'indirect' (the authors' procedure) or 'indirect-lbfgs' (our fast solver of its objective)")
MODEL_OPTIONS = Parameter("model_options", {}, mapping("{'patience': 100}"),
                          "options of that model, e.g. {'patience': 100} (docs/PROTOCOL.md)")
N_COMPONENTS = Parameter("n_components", 128, integer(), "dimensions k of each notion's space")
N_PROMPTS = Parameter("n_prompts", None, optional_integer(),
                      "None: every prompt; an int: a random subset of that many, drawn by the seed")
PROMPT_WORDS = Parameter("prompt_words", "all", choice(_prompt_words),
                         "'all', or 'strict': drop prompt words that equal an evaluation label")
SEED = Parameter("seed", 0, integer(0), "random seed")
OUTPUT_DIR = Parameter("output_dir", ".", PATH, "folder for the figures, tables and provenance")


# ---------------------------------------------------------------------- the notebooks


def _resolve_notions(values: dict, label: Label, files: bool) -> dict:
    """The notions resolved against the dataset (registered names, or notions of your own)."""
    return {"notions": check_notions(values["dataset"], values["notions"], label("notions"))}


def _fit_rules(values: dict, label: Label, files: bool) -> dict:
    """A registered notion by name, or one of your own from template + words (which go together)."""
    template, words = values["template"], values["words"]
    if template is None and words is None:
        if values["label_column"] is not None:
            raise ConfigError(f"{label('label_column')}={values['label_column']!r} is for a notion of your own: "
                              "give template and words with it, or leave it None")
        return {"notion": check_notion(values["dataset"], values["notion"], label("notion"))}
    if template is None or words is None:
        given, other = ("template", "words") if words is None else ("words", "template")
        raise ConfigError(f"{label(given)} and {other} go together: give both for a notion of your own, e.g. "
                          "template='a photo of a {} object', words=['red', 'green'] (or a word file)")
    spec = {"name": values["notion"], "template": template, "words": words, "label_column": values["label_column"]}
    return {"notion": check_notion_spec(values["dataset"], spec, lambda key: label("notion" if key == "name" else key))}


def _training_rules(values: dict, label: Label, files: bool) -> dict:
    """The training data must suit the method (images for Pic2Word, captions for LinCIR) and exist."""
    if files:
        from ..composed.training_data import check_training_data

        check_training_data(values["method"], values["data"])
    if values["overwrite"] and values["resume"]:
        raise ConfigError(f"{label('overwrite')}=True replaces an existing checkpoint with a new run, which needs "
                          "resume=False: pass both, or leave overwrite False to continue the checkpoint")
    return {}


def _explore_rules(values: dict, label: Label, files: bool) -> dict:
    """With no saved spaces, one space per notion of your own (a template and words each)."""
    from ..data.notions import OWN_COLLECTION

    if values["spaces"]:
        return {"notions": []}
    notions = values["notions"]
    if not isinstance(notions, list) or not notions:
        raise ConfigError(f"{label('notions')}={notions!r} must be a non-empty list of notions of your own "
                          "({'name', 'template', 'words'}) when no spaces are given")
    return {"notions": [check_notion_spec(OWN_COLLECTION, n, f"{label('notions')}[{i}]")
                        for i, n in enumerate(notions)]}


NOTEBOOK_PARAMETERS: dict[str, Notebook] = {notebook.name: notebook for notebook in (
    _notebook("01_cache_embeddings", [
        DATASET, DATASET_OPTIONS, DATA_ROOT, BACKBONE, CACHE_DIR, BATCH_SIZE, NUM_WORKERS, DEVICE,
        ON_ERROR_PARAMETER,
        Parameter("executor", "local", choice(_engines),
                  "'local' (here) or 'ray': each missing cache shard a Ray task (docs/CLUSTER.md)"),
        NOTIONS.but(help="notions whose sample images are shown: 'all', names, or your own (as in 03)"),
        Parameter("n_examples", 6, integer(), "sample images per notion"),
        SEED.but(help="drives which sample images are shown"),
        OUTPUT_DIR], _resolve_notions),
    _notebook("02_fit_indirect", [
        DATASET, DATASET_OPTIONS.but(help="the dataset loader's options (read when the prompts depend on the "
                                          "labels)"),
        DATA_ROOT,
        Parameter("notion", "object colour", TEXT,
                  "a notion of the dataset, or the name of your own when template and words are given"),
        Parameter("template", None, Check(_optional(check_template), "None or a template with one {}"),
                  "your own prompt template with one {}, e.g. 'a photo of a {} object'"),
        Parameter("words", None, Check(_check_words_or_file, "None, a list of words or a word file"),
                  "the words for your template: a list, e.g. ['red', 'green'], or a word file"),
        Parameter("label_column", None, OPTIONAL_TEXT,
                  "with your own notion: the label column it describes (None: the notion's name)"),
        BACKBONE, CACHE_DIR, DEVICE, MODEL, MODEL_OPTIONS, N_COMPONENTS, N_PROMPTS, PROMPT_WORDS,
        ON_ERROR_PARAMETER.but(help="unreadable images (read only when the prompts depend on the labels): "
                                    "'raise' or 'skip'"),
        SEED.but(help="the seed of the fit and of a prompt subset (0: the evaluation's first repetition)"),
        OUTPUT_DIR], _fit_rules),
    _notebook("03_evaluate", [
        DATASET, DATASET_OPTIONS, DATA_ROOT, NOTIONS,
        Parameter("models", "all", subset(_model_keys), "model keys to evaluate, or 'all' (every model)"),
        MODEL_OPTIONS.but(help="per-model options, e.g. {'clip': {'normalize': True}} (docs/PROTOCOL.md)"),
        Parameter("repetitions", 5, integer(), "repetitions of every fit, with seeds 0..repetitions-1"),
        N_COMPONENTS, N_PROMPTS.but(help="None: every prompt; an int: a random subset per repetition (the prompt "
                                         "analysis)"),
        PROMPT_WORDS, BACKBONE, CACHE_DIR, DEVICE, BATCH_SIZE, NUM_WORKERS, ON_ERROR_PARAMETER,
        Parameter("n_jobs", "auto", Check(_check_auto_or_int, "'auto' or integer >= 1"),
                  "worker processes for the Adam-trained fits ('auto': one per core)"),
        Parameter("n_queries", 3, integer(), "query images in the nearest-neighbour figure"),
        Parameter("top_k", 5, integer(), "neighbours shown per query and space"),
        SEED.but(help="drives which query images the neighbour figure shows"),
        OUTPUT_DIR], _resolve_notions),
    _notebook("04_attribution", [
        DATASET, DATASET_OPTIONS, DATA_ROOT, NOTIONS,
        Parameter("image_ids", [0, 1, 2], Check(_check_image_ids, "non-empty list of integers >= 0"),
                  "indices of the explained images among the readable ones"),
        Parameter("method", "smoothgrad", choice(_attribution_methods), "the attribution method"),
        Parameter("samples", 25, integer(), "noise samples (SmoothGrad) or integration steps (Integrated Gradients)"),
        Parameter("noise", 0.15, number(minimum=0), "SmoothGrad's noise, as a share of the input range"),
        Parameter("window", 32, integer(), "occlusion window in pixels"),
        Parameter("projections", {}, mapping("{'shape': 'runs/.../projection.pt'}"),
                  "notion -> projection file of 02_fit_indirect (a notion without one is fitted here alike)"),
        MODEL.but(help="the InDiReCT solver fitted for a notion without a projection file"),
        MODEL_OPTIONS, N_COMPONENTS, N_PROMPTS, PROMPT_WORDS, ON_ERROR_PARAMETER, BACKBONE, CACHE_DIR, DEVICE,
        SEED.but(help="seeds the fits and SmoothGrad's noise"), OUTPUT_DIR], _resolve_notions),
    _notebook("05_composed_retrieval", [
        Parameter("benchmark", "synthetic-shapes-cir", choice(_benchmarks), "the composed-retrieval benchmark"),
        Parameter("split", None, optional_choice(("val", "test", "test1")),
                  "None: the benchmark's default ('test' for synthetic-shapes-cir, else 'val')"),
        Parameter("layout", "auto", choice(("auto", "searle", "pic2word")),
                  "annotation layout: CIRR and FashionIQ exist in both"),
        DATA_ROOT.but(help="the benchmark's folder (None: data/<benchmark>)"),
        Parameter("benchmark_options", {}, mapping("{'n_queries': 100}"),
                  "loader options, e.g. {'n_queries': 100} or {'categories': ['dress']}"),
        Parameter("methods", "all", subset(_composed_methods),
                  "query methods, or 'all': image-only, text-only, image + text, pic2word, lincir"),
        Parameter("mappers", {}, mapping("{'pic2word': 'runs/.../mapper.pt'}"),
                  "checkpoint per mapper method, e.g. {'pic2word': 'runs/.../mapper.pt'}"),
        Parameter("ks", {}, Check(_check_ks, "mapping of metric family to a list of K"),
                  "K per metric family, e.g. {'recall': [1, 5, 10]} ({}: the benchmark's own)"),
        Parameter("n_examples", 4, integer(0), "example queries in the figure"),
        BACKBONE, CACHE_DIR, DEVICE, BATCH_SIZE, NUM_WORKERS,
        SEED.but(help="drives which example queries are shown"), OUTPUT_DIR]),
    _notebook("06_train_mapper", [
        Parameter("method", "pic2word", choice(_mapper_methods),
                  "'pic2word' (trains on images) or 'lincir' (trains on captions)"),
        Parameter("data", "synthetic-shapes-cir", TEXT,
                  "training data: the embedded benchmark's train split; an image folder or dataset name "
                  "(pic2word); a caption file .txt/.csv/.tsv or 'hf:<name>' (lincir)"),
        DATA_ROOT.but(help="root folder of the training data (None: its default)"),
        Parameter("data_options", {}, mapping("{'n_train': 2000}"),
                  "loader options, e.g. {'n_train': 2000} for synthetic-shapes-cir"),
        Parameter("caption_column", "caption", TEXT, "caption column of a CSV/TSV or Hugging Face dataset (lincir)"),
        Parameter("max_captions", None, optional_integer(), "None: every caption; an int: only the first (lincir)"),
        Parameter("steps", 1000, integer(), "training steps"),
        BATCH_SIZE.but(check=integer(2), help="training samples per step (at least 2: the loss compares within "
                                               "a batch)"),
        Parameter("lr", 1e-4, number(above=0), "learning rate"),
        SEED.but(help="seeds the data order, dropout and noise"), BACKBONE,
        DEVICE.but(check=choice(("cpu", "cuda")), help="'cpu' (float32) or 'cuda' (mixed precision)"),
        CACHE_DIR.but(help="embedding cache and text targets (None: data/cache)"),
        Parameter("checkpoint_every", 250, integer(), "steps between checkpoints in output_dir"),
        Parameter("resume", True, FLAG,
                  "continue the checkpoint in output_dir when there is one (made with the same settings)"),
        Parameter("overwrite", False, FLAG,
                  "with resume=False: start anew over an existing checkpoint, replacing it when the new run ends"),
        OUTPUT_DIR], _training_rules),
    _notebook("07_explore", [
        Parameter("spaces", [], Check(_check_paths, "list of folders"),
                  "saved space folders (python -m indirect_core space fit ...); empty: fit them here"),
        Parameter("images", None, OPTIONAL_PATH, "with no spaces: a folder (plain or nested) or a CSV with a path "
                                                 "column"),
        Parameter("dataset", None, Check(_optional(check_dataset), lambda: "None, " + _or(_datasets())),
                  "with no spaces or images: a registered dataset (e.g. 'image-folder'), with data_root"),
        DATA_ROOT, DATASET_OPTIONS,
        Parameter("notions", [
            {"name": "object colour", "template": "a {} shape",
             "words": ["aqua", "black", "blue", "fuchsia", "gray", "green", "lime", "maroon", "navy", "olive",
                       "orange", "purple", "red", "silver", "teal", "white", "yellow"]},
            {"name": "shape", "template": "a photo of a {}",
             "words": ["circle", "square", "triangle", "star", "hexagon", "cross", "heart", "crescent", "pentagon",
                       "diamond", "ring", "arrow"]}], Check(_check_own_notions, "list of notions of your own"),
            "with no spaces: one space per notion, each {'name', 'template', 'words' (list or word file)}"),
        Parameter("solver", "indirect-lbfgs", MODEL.check,
                  "'indirect-lbfgs' (our fast deterministic solver) or 'indirect' (the authors' Adam)"),
        N_COMPONENTS, BACKBONE, CACHE_DIR, DEVICE,
        Parameter("k", 8, integer(), "results per space"),
        Parameter("query", "auto", Check(_check_query, "text, 'auto' or None"),
                  "the first query; 'auto': 'a red shape' on the example collection, none on your own; None: none"),
        Parameter("label_column", None, OPTIONAL_TEXT, "colour the map by this label column (None: the first one)"),
        Parameter("draw_map", True, FLAG, "draw the UMAP map of the first notion's space (numba compiles UMAP "
                                          "once per machine)"),
        Parameter("static_copy", True, FLAG, "save explore.html (grids of the first query + the map) and show the "
                                             "grids here"),
        SEED.but(help="seeds the fits (solver 'indirect') and the map"), OUTPUT_DIR], _explore_rules),
)}
"""Every notebook's parameters by notebook name (the file name without ``.ipynb``)."""


def notebook_declaration(notebook: str) -> Notebook:
    """The declarations of ``notebook`` ("03_evaluate" or "03_evaluate.ipynb")."""
    name = Path(notebook).stem
    if name not in NOTEBOOK_PARAMETERS:
        raise ConfigError(f"no notebook {notebook!r} declares parameters: use one of {list(NOTEBOOK_PARAMETERS)}")
    return NOTEBOOK_PARAMETERS[name]


def declared(notebook: str, name: str) -> Parameter:
    """The declaration of parameter ``name`` of ``notebook``."""
    return notebook_declaration(notebook)[name]


# ---------------------------------------------------------------------- checking a notebook's parameters


def check_parameters(notebook: str, values: Mapping[str, Any], label: Label = in_notebook,
                     files: bool = True) -> CheckedParameters:
    """Every parameter of ``notebook`` checked and normalised (those not in ``values`` at their defaults), with
    what the notebook derives from them; a name the notebook does not take is refused. ``files`` False skips
    the rules that read files a plan's run makes or ``--check`` reports."""
    declaration = notebook_declaration(notebook)
    _refuse_unknown(declaration, values, label)
    checked = {name: parameter.validate(values[name] if name in values else parameter.fresh_default(), label(name))
               for name, parameter in declaration.parameters.items()}
    derived = declaration.rules(checked, label, files) if declaration.rules else {}
    return CheckedParameters(declaration.name, checked, derived)


def _refuse_unknown(declaration: Notebook, values: Mapping[str, Any], label: Label) -> None:
    unknown = [name for name in values if name not in declaration.parameters]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(declaration.parameters), n=1)
        raise ConfigError(f"{label(name)}={values[name]!r} is not a parameter of notebook {declaration.name}"
                          + (f": did you mean {close[0]}?" if close else "") +
                          f" Its parameters: {', '.join(declaration.parameters)} ({DOCS})")


def notebook_parameters(notebook: str, namespace: dict, show: bool = True) -> CheckedParameters:
    """The check cell of a notebook: ``params = check.notebook_parameters("03_evaluate", globals())``.

    The names set before it (in the parameters cell or papermill's injected cell) must be parameters of the
    notebook; every parameter not set takes its declared default; all are checked and normalised and written
    back into ``namespace`` (so later cells use bare names); a table shows each value (and its default when it
    differs) with its meaning. Returns the checked values with what later cells need as attributes (e.g.
    ``params.notions``, the resolved notions).
    """
    declaration = notebook_declaration(notebook)
    given = {name: namespace.get(name) for name in given_names(namespace)}
    _refuse_unknown(declaration, given, in_notebook)
    values = {name: namespace[name] for name in declaration.parameters if name in namespace}
    checked = check_parameters(notebook, values)
    namespace.update(checked.values)
    if show:
        checked.show()
    return checked


PARAMETERS_MARK = "# Parameters"
"""How a notebook's parameters cell begins, like the cell papermill injects: the cells that set parameters."""

_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})


def given_names(namespace: Mapping[str, Any]) -> list[str]:
    """The names the user set: in IPython, those assigned in the parameter cells run just before the current
    one (cells beginning with ``# Parameters``, the notebook's own and papermill's injected one, or made only of
    ``name = literal`` lines); elsewhere every public name that holds data (not a module, class or function)."""
    history = namespace.get("In")
    if isinstance(history, list) and history and all(isinstance(source, str) for source in history):
        names: list[str] = []
        for source in reversed(history[:-1]):  # history[-1] is the running cell
            assigned = _parameter_cell_names(source)
            if assigned is None:
                break
            names = assigned + names
        return list(dict.fromkeys(names))
    return [name for name, value in namespace.items() if not name.startswith("_") and name not in _IPYTHON_NAMES
            and not callable(value) and not isinstance(value, types.ModuleType)]


def _parameter_cell_names(source: str) -> list[str] | None:
    """The names a parameter cell assigns; None for a cell that is not one."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    marked = source.lstrip().startswith(PARAMETERS_MARK)
    names = []
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
            targets, value = [statement.target], statement.value
        else:
            targets, value = [], None
        plain = bool(targets) and all(isinstance(t, ast.Name) for t in targets)
        if not marked and not (plain and _is_literal(value)):
            return None
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _is_literal(node: ast.AST | None) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False
    return True


# ---------------------------------------------------------------------- the docs table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def parameters_markdown(notebooks: Sequence[str] | None = None) -> str:
    """``docs/PARAMETERS.md``: per notebook, each parameter with its default, what it accepts and its meaning."""
    names = [Path(n).stem for n in notebooks] if notebooks else list(NOTEBOOK_PARAMETERS)
    lines = ["# Notebook parameters", "",
             "Generated from the declarations in `indirect_core/batch/parameters.py` (`python -m indirect_core "
             "parameters`); do not edit by hand. Set a parameter in the notebook's parameters cell, with "
             "`papermill -p NAME VALUE`, or through a plan (`plans/*.yaml`); every parameter left unset takes its "
             "default. The cell after the parameters cell checks them all: a bad value, or a name the notebook "
             "does not take, fails there, naming the parameter."]
    for name in names:
        declaration = notebook_declaration(name)
        lines += ["", f"## `{declaration.name}`", "", "| parameter | default | accepts | meaning |",
                  "|---|---|---|---|"]
        lines += [f"| `{p.name}` | `{_cell(repr(p.default))}` | {_cell(p.check.describe())} | {_cell(p.help)} |"
                  for p in declaration.parameters.values()]
    return "\n".join(lines) + "\n"
