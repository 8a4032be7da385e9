"""The declaration types: a parameter (default, check, help), a check (what a value may be, for the docs and
the command line), a notebook's parameters with its cross-parameter rules, and the checked values a notebook gets.
"""
from __future__ import annotations

import copy
import dataclasses
import html
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..._util.errors import ConfigError


Label = Callable[[str], str]
"""How an error names a parameter, given its name: ``parameter n_components`` in a notebook."""


def in_notebook(name: str) -> str:
    """The label of a parameter in a notebook: ``parameter NAME``."""
    return f"parameter {name}"


DOCS = "docs/PARAMETERS.md"
"""The table of every notebook's parameters, generated from these declarations."""


TABLE_CLASS = "indirect-parameters"
"""CSS class of the parameters table a notebook's check cell shows (tests leave it out of the page's prose)."""


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


def notebook(name: str, parameters: Sequence[Parameter], rules: Rules | None = None) -> Notebook:
    return Notebook(name, {p.name: p for p in parameters}, rules)


@dataclass(frozen=True)
class CheckedParameters:
    """A notebook's parameters after the check: ``values`` (every parameter, normalised) and, as attributes,
    what the notebook derives from them (e.g. ``params.notions``, the resolved notions)."""

    declaration: Notebook
    values: dict[str, Any]
    derived: dict[str, Any] = field(default_factory=dict)

    @property
    def notebook(self) -> str:
        """The notebook's name, e.g. ``03_evaluate``."""
        return self.declaration.name

    def __getattr__(self, name: str) -> Any:
        derived = self.__dict__.get("derived", {})
        if name in derived:
            return derived[name]
        raise AttributeError(f"checked parameters of {getattr(self.__dict__.get('declaration'), 'name', '?')} derive no {name!r}: "
                             f"they derive {sorted(derived)}; the parameter values are in .values")

    def rows(self) -> list[tuple[str, str, str | None, str]]:
        """(name, value, default when the value differs from it, help) per parameter, values as Python shows
        them, long ones shortened."""
        declared = self.declaration
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
