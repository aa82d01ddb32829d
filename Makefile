# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROFILE ?= demo

.PHONY: serve test venv demo lint typecheck clean

serve: $(STAMP)
	$(BIN)/skygate demo --profile $(PROFILE) --if-missing
	$(BIN)/skygate serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,hats]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/skygate demo --profile $(PROFILE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy dali adql release uws auth tap sia soda anomaly registry skygate

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
