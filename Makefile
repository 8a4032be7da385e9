# Two commands for users: `make report` (the main job) and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
PLAN ?= plans/demo.yaml
JOBS ?= 2
REPORT_ARGS ?=

.PHONY: setup report test clean-cache

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[notebooks,dev]"
	rm -f $(VENV)/.installed-* && touch $@

report: setup
	$(PY) -m indirect_core report $(PLAN) --jobs $(JOBS) $(REPORT_ARGS)

test: setup
	$(PY) -m pytest tests -q

clean-cache:
	rm -rf data/cache
