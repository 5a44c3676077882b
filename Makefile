# The two commands of the README: `make demo` (set up and run the daemon) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint format bench bench-sync bench-candidates bench-deletion clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Run the daemon on the embedded SQLite default with the example config (state under ./var).
demo: $(STAMP)
	mkdir -p var/state var/run
	STATE_DIRECTORY=$(CURDIR)/var/state RUNTIME_DIRECTORY=$(CURDIR)/var/run \
	  $(BIN)/cullarrd serve --config config.example.yaml

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
