# Two entry points: `make demo` (train a GNN on a synthetic graph) and `make test` (the CPU suite).
# Each creates .venv and installs what it needs; the CPU build of torch is taken where pip finds it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q torch
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

.PHONY: install demo test lint
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/graphsys train --dataset synthetic-arxiv --scale 0.05 --model sage --layers 2 --fanouts 10,5 \
		--hidden 128 --batch-size 512 --lr 0.01 --epochs 3

test: $(STAMP)
	TRITON_INTERPRET=1 $(BIN)/python -m pytest -q tests

# Code health: ruff (lint and import order, configured in pyproject.toml) over LINT_PATHS (the whole
# tree by default, less pyproject's extend-exclude and what git ignores), then mypy over TYPE_PATHS.
# Either can be narrowed, e.g. `make lint LINT_PATHS="zerocopy embedding" TYPE_PATHS=zerocopy`; an
# empty TYPE_PATHS skips mypy. .ci/run runs it before the tests (a few seconds).
LINT_PATHS ?= .
TYPE_PATHS ?= zerocopy sampling embedding
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(if $(strip $(TYPE_PATHS)),$(BIN)/mypy $(TYPE_PATHS))
