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
import difflib
import types
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..._util.errors import ConfigError
from .checks import check_notions, indirect_keys
from .declaration import DOCS, TABLE_CLASS, CheckedParameters, Label, Notebook, in_notebook
from .notebooks import NOTEBOOK_PARAMETERS, declared, notebook_declaration

__all__ = ["DOCS", "NOTEBOOK_PARAMETERS", "PARAMETERS_MARK", "TABLE_CLASS", "CheckedParameters", "check_notions",
           "check_parameters", "declared", "given_names", "indirect_keys", "notebook_declaration",
           "notebook_parameters", "parameters_markdown"]


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
    return CheckedParameters(declaration, checked, derived)


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
