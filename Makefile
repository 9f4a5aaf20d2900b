# gradguard — two commands on a fresh machine (Python >= 3.10 and pip):
#   make tour   set up .venv and run the main job on the seed's defaults
#   make test   set up .venv with the dev extras and run ruff, mypy and pytest
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is pinned: 2.13.0 is a local CPU wheel on our machines; an open range pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: tour test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-tour: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH) -e '.[torch,plot]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH) -e '.[torch,plot,dev]'
	touch $@ $(VENV)/.installed-tour

tour: $(VENV)/.installed-tour
	$(BIN)/gradguard tour

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

test: lint
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
