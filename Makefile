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

$(STAMP): pyproject.toml sky/web/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# Aladin Lite for /sky, from the npm registry at the version package-lock.json pins.
	if command -v npm >/dev/null 2>&1; then npm ci --prefix sky/web --no-audit --no-fund --silent; \
	else echo "npm not found: /sky will say Aladin Lite is missing"; fi
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/skygate demo --profile $(PROFILE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy dali adql release uws auth tap sia soda anomaly registry sky skygate

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
