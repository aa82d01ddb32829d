# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROFILE ?= demo
PORT ?= 8000
# Test processes (pytest-xdist): `auto` is one per core; 0 runs the suite in this process.
PYTEST_WORKERS ?= auto

.PHONY: serve test venv demo lint typecheck clean

serve: $(STAMP)
	$(BIN)/skygate demo --profile $(PROFILE) --if-missing
	$(BIN)/skygate serve --host 127.0.0.1 --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

venv: $(STAMP)

# Every dependency comes as a binary wheel (no compiler); each phase says what it does.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Skygate needs Python 3.11 or newer: make PYTHON=python3.11")'
	@echo "install [1/3] virtual environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "install [2/3] upgrading pip"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "install [3/3] Skygate and its test tools from binary wheels (about a minute without a pip cache)"
	@$(BIN)/python -m pip install --quiet --only-binary=:all: -e '.[test]'
	@touch $(STAMP)
	@echo "install done: $(BIN)/skygate"

demo: $(STAMP)
	$(BIN)/skygate demo --profile $(PROFILE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy dali adql release uws tap sia soda anomaly registry skygate

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
