# The two commands of the README: `make demo` (set up and run the daemon) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint format bench bench-sync bench-candidates bench-deletion bench-web clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## `cullarrd demo`: the daemon against fake Sonarr, Radarr and Tautulli in a temporary directory;
## options through DEMO_ARGS, e.g. make demo DEMO_ARGS="--port 0 --library tiny --keep".
DEMO_ARGS ?=
demo: $(STAMP)
	$(BIN)/cullarrd demo $(DEMO_ARGS)

## Set up and run the whole test suite plus the linters.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var build *.egg-info

## Benchmarks (not part of the test run); results go to the README table.
bench: $(STAMP)
	$(BIN)/python bench/bench_control.py

bench-sync: $(STAMP)
	$(BIN)/python bench/bench_sync.py

bench-candidates: $(STAMP)
	$(BIN)/python -m bench.bench_candidates --store var/bench-candidates

bench-deletion: $(STAMP)
	$(BIN)/python -m bench.bench_deletion

bench-web: $(STAMP)
	$(BIN)/python -m bench.bench_web
