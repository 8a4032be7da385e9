"""One declaration per notebook parameter (indirect_core.batch.parameters): the notebooks run with the declared
defaults, their check cell is one call that refuses bad values and unknown names, and the plans, the command line
and docs/PARAMETERS.md read the same declarations."""
from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

import indirect_core as ic
from indirect_core import batch
from indirect_core.apps.cli import main
from indirect_core.batch import parameters
from indirect_core.batch.notebook_execution import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cells(path: Path) -> tuple[int, list]:
    notebook = nbformat.read(path, as_version=4)
    index = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    return index, notebook.cells


def _defaults(notebook: str) -> dict:
    """The declared defaults, checked and normalised, as JSON gives them back."""
    return json.loads(json.dumps(parameters.check_parameters(notebook, {}).values))


def test_every_notebook_has_declarations_and_a_one_call_check_cell():
    assert [p.stem for p in NOTEBOOKS] == list(parameters.NOTEBOOK_PARAMETERS)
    for path in NOTEBOOKS:
        index, cells = _cells(path)
        parameters_cell, check_cell = cells[index].source, cells[index + 1].source
        assert parameters_cell.startswith(parameters.PARAMETERS_MARK) and not ast.parse(parameters_cell).body, path
        assert len(parameters_cell.splitlines()) == 2  # the comment only: no defaults in the notebook
        calls = [node for node in ast.walk(ast.parse(check_cell)) if isinstance(node, ast.Call)
                 and getattr(node.func, "attr", None) == "notebook_parameters"]
        assert len(calls) == 1 and calls[0].args[0].value == path.stem, path
        later = "".join(c.source for c in cells[index + 2:] if c.cell_type == "code")
        assert "check." not in later, path  # no parameter checks left in later cells


def test_an_empty_namespace_gets_every_declared_default():
    for notebook, declaration in parameters.NOTEBOOK_PARAMETERS.items():
        namespace: dict = {}
        checked = parameters.notebook_parameters(notebook, namespace, show=False)
        assert set(namespace) == set(declaration.parameters) == set(checked.values)
        for name, parameter in declaration.parameters.items():
            assert namespace[name] == parameter.validate(parameter.default), (notebook, name)
        assert not checked.changed()
    namespace = {"n_components": 16, "ic": ic, "Path": Path, "_hidden": 1}  # imports, private names: no parameters
    checked = parameters.notebook_parameters("03_evaluate", namespace, show=False)
    assert checked.changed() == {"n_components": 16} and namespace["repetitions"] == 5
    assert [n.name for n in checked.notions] == ["shape", "object colour", "background colour"]
    assert "* n_components" in checked.table() and "(default 128)" in checked.table()
    assert "Parameters of 03_evaluate: n_components not at their defaults (1 of 21;" in checked.html()
    namespace = {}
    parameters.notebook_parameters("03_evaluate", namespace, show=False)
    namespace["dataset_options"]["n_images"] = 5  # a notebook changing its {} leaves the declaration alone
    assert parameters.declared("03_evaluate", "dataset_options").default == {}


@pytest.mark.parametrize("notebook, values, message", [
    ("03_evaluate", {"n_components": 0}, "parameter n_components=0 must be a positive integer"),
    ("03_evaluate", {"n_componets": 3}, "parameter n_componets=3 is not a parameter of notebook 03_evaluate: did "
                                        "you mean n_components?"),
    ("03_evaluate", {"n_jobs": "many"}, "parameter n_jobs='many' must be a positive integer (or 'auto'"),
    ("03_evaluate", {"models": ["clip", "bert"]}, "parameter models: ['bert'] not among"),
    ("03_evaluate", {"n_prompts": 1.5}, "parameter n_prompts=1.5 must be a positive integer or None"),
    ("02_fit_indirect", {"template": "a {} thing"}, "parameter template and words go together"),
    ("02_fit_indirect", {"label_column": "colour"}, "parameter label_column='colour' is for a notion of your own"),
    ("02_fit_indirect", {"notion": "car model"}, "parameter notion='car model' is not a notion of dataset"),
    ("04_attribution", {"image_ids": [0, -1]}, "parameter image_ids=[0, -1] must be a non-empty list of image"),
    ("04_attribution", {"noise": -0.1}, "parameter noise=-0.1 must be a non-negative number"),
    ("05_composed_retrieval", {"ks": {"recall": [0]}}, "parameter ks.recall=0 must be a positive integer"),
    ("06_train_mapper", {"overwrite": True}, "parameter overwrite=True replaces an existing checkpoint with a new "
                                             "run, which needs resume=False"),
    ("06_train_mapper", {"lr": 0}, "parameter lr=0 must be a positive number"),
    ("07_explore", {"notions": [{"name": "c", "template": "x"}]}, "parameter notions[0]: missing ['words']"),
    ("07_explore", {"query": ""}, "parameter query='' must be a non-empty text"),
])
def test_a_bad_value_or_an_unknown_name_fails_naming_the_parameter(notebook, values, message):
    with pytest.raises(ic.ConfigError) as error:
        parameters.notebook_parameters(notebook, dict(values), show=False)
    assert str(error.value).startswith(message), str(error.value)


def test_derived_values_and_a_notion_of_your_own(tmp_path):
    words = tmp_path / "colours.txt"
    words.write_text("red\nblue\n")
    checked = parameters.check_parameters("02_fit_indirect", {"notion": "tint", "template": "a {} shape",
                                                              "words": str(words), "label_column": "object colour"})
    assert (checked.notion.name, checked.notion.prompts, checked.notion.label_column) == (
        "tint", ["a red shape", "a blue shape"], "object colour")
    assert parameters.check_parameters("06_train_mapper", {"resume": False, "overwrite": True}).values["overwrite"]
    assert parameters.check_parameters("07_explore", {"spaces": "spaces/colour"}).values["spaces"] == ["spaces/colour"]
    with pytest.raises(AttributeError, match="derive no 'notion'"):
        parameters.check_parameters("03_evaluate", {}).notion


def _first_cells(path: Path, folder: Path, own_lines: str = "") -> Path:
    """The notebook up to its check cell, ``own_lines`` added to its parameters cell, then a cell printing the
    parameters' global values as JSON."""
    index, cells = _cells(path)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = cells[:index + 2] + [nbformat.v4.new_code_cell(
        "import json\nprint(json.dumps({name: globals()[name] for name in params.values}))")]
    notebook.cells[index].source += ("\n" + own_lines if own_lines else "")
    folder.mkdir()
    nbformat.write(notebook, folder / path.name)
    return folder / path.name


def test_each_notebook_runs_with_its_declared_defaults_and_refuses_a_typo_in_its_parameters_cell(tmp_path):
    """The first cells of every notebook through papermill: nothing set gives the declared defaults in the
    notebook's globals; lines of the parameters cell and papermill's values both count; a typo fails."""
    cases = {path.stem: (_first_cells(path, tmp_path / path.stem), {}) for path in NOTEBOOKS}
    cases["03_evaluate"] = (_first_cells(ROOT / "notebooks" / "03_evaluate.ipynb", tmp_path / "03-set",
                                         "n_components = 64"), {"top_k": 2})
    cases["typo"] = (_first_cells(ROOT / "notebooks" / "02_fit_indirect.ipynb", tmp_path / "typo",
                                  "n_componets = 8"), {})

    def run(item):
        name, (path, values) = item
        try:
            execute_notebook(path, path.with_name("out.ipynb"), values, cwd=path.parent)
        except papermill.PapermillExecutionError as error:
            return name, error
        return name, nbformat.read(path.with_name("out.ipynb"), as_version=4)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(run, cases.items()))
    error = results.pop("typo")
    assert isinstance(error, papermill.PapermillExecutionError) and error.ename == "ConfigError"
    assert error.evalue.startswith("parameter n_componets=8 is not a parameter of notebook 02_fit_indirect: did you "
                                   "mean n_components?")
    for name, executed in results.items():
        assert not isinstance(executed, Exception), (name, executed)
        check_cell = next(c for c in executed.cells if "notebook_parameters(" in c.source)
        table = check_cell.outputs[0]["data"]
        values = json.loads(executed.cells[-1].outputs[0]["text"])
        if name == "03_evaluate":
            assert values == {**_defaults(name), "n_components": 64, "top_k": 2}
            assert "Parameters of 03_evaluate: n_components, top_k not at their defaults (2 of 21;" in table["text/html"]
            assert "* n_components" in table["text/plain"] and "* top_k" in table["text/plain"]
        else:
            assert values == _defaults(name), name
            assert "0 not at their default" in table["text/plain"]
            assert f"Parameters of {name}: all {len(values)} at their defaults" in table["text/html"]


def _plan(tmp_path: Path, **keys) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "datasets": {"synthetic-shapes": {}}, "backbones": ["random-tiny"],
                                    "attribution": {"samples": 2}, **keys}))
    return path


def _redeclare(monkeypatch, notebook: str, name: str, default) -> None:
    table = parameters.NOTEBOOK_PARAMETERS[notebook].parameters
    monkeypatch.setitem(table, name, dataclasses.replace(table[name], default=default))


def test_plans_and_the_command_line_follow_a_changed_default(tmp_path, monkeypatch, capsys):
    """One source: change notebook 03's declared defaults and the plan loader and the experiment command follow."""
    plan = batch.load_plan(_plan(tmp_path))
    for key, (notebook, name) in batch.plans.PLAN_SETTINGS.items():
        assert plan[key] == parameters.declared(notebook, name).validate(parameters.declared(notebook, name).default)
    _redeclare(monkeypatch, "03_evaluate", "n_components", 7)
    _redeclare(monkeypatch, "03_evaluate", "repetitions", 3)
    _redeclare(monkeypatch, "03_evaluate", "models", ["clip", "pca"])
    _redeclare(monkeypatch, "05_composed_retrieval", "n_examples", 1)
    plan = batch.load_plan(_plan(tmp_path, composed={"benchmarks": {"synthetic-shapes-cir": {}},
                                                     "methods": ["image-only"]}))
    assert (plan["n_components"], plan["seeds"], plan["models"]) == (7, 3, ["clip", "pca"])
    assert plan["composed"]["n_examples"] == 1
    jobs = {job.id.rsplit("/", 1)[1]: job.parameters for job in batch.plan_jobs(plan, tmp_path / "run")}
    assert jobs["03_evaluate"]["n_components"] == jobs["04_attribution"]["n_components"] == 7
    assert jobs["03_evaluate"]["repetitions"] == 3 and jobs["05_composed"]["n_examples"] == 1

    with pytest.raises(SystemExit):
        main(["experiment", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "(default: 7)" in shown and "(default: 3)" in shown and "(default: clip pca)" in shown
    called = {}
    monkeypatch.setattr(ic.report.results, "run_study", lambda **kwargs: called.update(kwargs))
    assert main(["experiment", "--backbone", "random-tiny"]) == 0
    assert (called["n_components"], called["seeds"], called["models"]) == (7, range(3), ["clip", "pca"])
    assert (called["batch_size"], called["on_error"], called["notions"]) == (64, "raise", None)
    assert main(["experiment", "--n-components", "0"]) == 2
    assert "error: --n-components=0 must be a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("keys, message", [
    ({"seeds": 0}, "seeds=0 must be a positive integer"),
    ({"evaluation": {"top_k": 0}}, "evaluation.top_k=0 must be a positive integer"),
    ({"evaluation": {"n_jobs": "all"}}, "evaluation.n_jobs='all' must be a positive integer"),
    ({"attribution": {"image_ids": "0"}}, "attribution.image_ids='0' must be a non-empty list"),
    ({"sweep": {"n_prompts": [10, 0]}}, "sweep.n_prompts=0 must be a positive integer"),
    ({"prompt_words": "loose"}, "prompt_words='loose' must be one of ['all', 'strict']"),
    ({"datasets": {"synthetic-shapes": {"options": [1]}}}, "datasets.synthetic-shapes.options=[1] must be a mapping"),
    ({"composed": {"benchmarks": {"synthetic-shapes-cir": {}}, "methods": ["image-only"], "n_examples": -1}},
     "composed.n_examples=-1 must be a non-negative integer"),
])
def test_a_plan_with_a_bad_value_fails_at_load_time_naming_the_plan_key(tmp_path, keys, message):
    with pytest.raises(ic.ConfigError, match=r"^plan .*plan\.yaml: " + message.replace("[", r"\[").replace("(", r"\(")):
        batch.load_plan(_plan(tmp_path, **keys))


def test_every_job_is_checked_as_its_notebook_checks_it(tmp_path):
    job = batch.Job("d/random-tiny/03_evaluate", batch.NOTEBOOKS["evaluate"], {"n_components": 4, "seeds": 2})
    with pytest.raises(ic.ConfigError, match="job d/random-tiny/03_evaluate: parameter seeds=2 is not a parameter "
                                             "of notebook 03_evaluate"):
        batch.plans.check_job(job)
    for plan in sorted((ROOT / "plans").glob("*.yaml")):  # every shipped plan's jobs pass their notebooks' checks
        for job in batch.plan_jobs(batch.load_plan(plan), tmp_path / plan.stem):
            parameters.check_parameters(job.notebook, job.parameters, files=False)


def test_the_docs_table_is_generated_from_the_declarations():
    # in a fresh interpreter: tests register engines and datasets of their own, which the table would list
    table = subprocess.run([sys.executable, "-m", "indirect_core", "parameters"], capture_output=True, text=True,
                           timeout=300, cwd=ROOT)
    assert table.returncode == 0, table.stderr
    assert (ROOT / parameters.DOCS).read_text() == table.stdout, \
        "docs/PARAMETERS.md is stale: python -m indirect_core parameters > docs/PARAMETERS.md"
    text = parameters.parameters_markdown(["06_train_mapper"])
    assert "| `overwrite` | `False` | True or False |" in text and "03_evaluate" not in text
    assert "docs/PARAMETERS.md" in (ROOT / "README.md").read_text()


def test_the_command_line_help_imports_no_torch():
    code = ("import sys\nfrom indirect_core.apps.cli import main\ntry:\n    main(['experiment', '--help'])\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("False"), result.stderr
