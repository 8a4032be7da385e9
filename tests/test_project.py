"""Project plumbing: environment.yml stays in sync with pyproject, the README commands and CI agree."""
from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    editable = next(line for line in pip if line.startswith("-e"))
    extras = set(re.search(r"\[(.*)\]", editable).group(1).split(","))
    assert extras == set(project["optional-dependencies"])  # conda users get every extra, as `make setup`
    assert "setuptools<81" in pip and "setuptools<81" in project["dependencies"]
    assert not any(d.startswith("torch==2.13.0") for d in project["dependencies"])


def test_makefile_installs_the_same_extras_and_ci_runs_the_readme_command():
    makefile = (ROOT / "Makefile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = set(re.search(r'-e "\.\[(.*?)\]"', makefile).group(1).split(","))
    assert installed == set(project["optional-dependencies"])
    for target in ("setup:", "report:", "test:"):
        assert re.search(rf"^{target}", makefile, re.M)
    readme = (ROOT / "README.md").read_text()
    assert "make report" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
