# gradguard — two commands on a fresh machine (Python >= 3.10 and pip):
#   make tour   set up .venv and run the main job on the seed's defaults
#   make test   set up .venv with the dev extras and run ruff, mypy, the docs build and pytest
#               (and install Chromium for the browser tests where apt-get runs as root)
#   make docs   build the docs site offline with `mkdocs build --strict` into site/
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is pinned: 2.13.0 is a local CPU wheel on our machines; an open range pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: tour test lint docs browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-tour: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH) -e '.[torch,plot]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH) -e '.[torch,plot,dev,docs]'
	touch $@ $(VENV)/.installed-tour

tour: $(VENV)/.installed-tour
	$(BIN)/gradguard tour

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks tools examples
	$(BIN)/ruff format --check src tests benchmarks tools examples
	$(BIN)/mypy src

# The docs build executes the tutorial notebook and runs a few commands; no network.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The browser tests drive Debian's Chromium: installed here where apt-get runs as root (or
# through passwordless sudo); elsewhere those tests skip and say why.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "make: Chromium is not installed and apt-get needs root; browser tests will skip"; \
	  exit 0; fi; \
	  echo "make: installing Chromium for the browser tests (apt-get install chromium)"; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install \
	    -y -qq --no-install-recommends chromium >/dev/null; } \
	  || echo "make: could not install Chromium; browser tests will skip"; \
	fi

test: lint docs browser
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
