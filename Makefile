# Two commands for users: `make report` (the main job) and `make test`. Both create .venv when missing.
# `make test` checks the layers (lint-imports) and runs every test; `make test-fast` leaves out the tests marked
# slow (notebook runs, the smoke plan, Ray clusters, browser pages) and takes under 3 minutes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
PLAN ?= plans/demo.yaml
JOBS ?= 2
REPORT_ARGS ?=
# e.g. EXPLORE_ARGS="--space runs/spaces/colour --space runs/spaces/clip --port 8900"
EXPLORE_ARGS ?=

.PHONY: setup report test test-fast explore clean-cache shapes-clip

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[notebooks,dev,scale]"
	rm -f $(VENV)/.installed-* && touch $@

report: setup
	$(PY) -m indirect_core report $(PLAN) --jobs $(JOBS) $(REPORT_ARGS)

test: setup
	$(VENV)/bin/lint-imports
	$(PY) -m pytest tests -q

test-fast: setup
	$(PY) -m pytest tests -q -m "not slow"

# The explorer (notebooks/07_explore.ipynb) as a web page with Voila on http://127.0.0.1:8866/: CLIP and one
# space per notion over the example collection (data/my-photos), or the saved spaces given in EXPLORE_ARGS.
explore: setup
	$(PY) -m indirect_core explore $(EXPLORE_ARGS)

# shapes-clip, the small CLIP trained here on synthetic shapes (notebooks/08_train_backbone.ipynb): retrain it from
# scratch over the shipped one in indirect_core/backbone/weights/shapes-clip and print its model card's numbers. An
# interrupted run keeps its state in runs/shapes-clip-training and continues from there when this is run again.
SHAPES_CLIP_ARGS ?=
shapes-clip: setup
	$(PY) -m indirect_core train-backbone --work-dir runs/shapes-clip-training $(SHAPES_CLIP_ARGS)

clean-cache:
	rm -rf data/cache
