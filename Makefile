# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The portal's ADQL editor (CodeMirror 6 from the npm registry, portal/package-lock.json), bundled here;
# without npm the query page falls back to a plain text box.
EDITOR_JS := portal/static/build/editor.js
PROFILE ?= demo
PORT ?= 8000
# Test processes (pytest-xdist): `auto` is one per core; 0 runs the suite in this process.
PYTEST_WORKERS ?= auto

.PHONY: serve test venv demo lint typecheck clean editor

serve: $(STAMP) $(EDITOR_JS)
	$(BIN)/skygate demo --profile $(PROFILE) --if-missing
	$(BIN)/skygate serve --host 127.0.0.1 --port $(PORT) --build-hips

test: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

venv: $(STAMP)

# Every dependency comes as a binary wheel (no compiler); each phase says what it does.
$(STAMP): pyproject.toml sky/web/package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Skygate needs Python 3.11 or newer: make PYTHON=python3.11")'
	@echo "install [1/4] virtual environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "install [2/4] upgrading pip"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "install [3/4] Skygate and its test tools from binary wheels (about a minute without a pip cache)"
	@$(BIN)/python -m pip install --quiet --only-binary=:all: -e '.[test]'
	@echo "install [4/4] Aladin Lite for /sky from the npm registry (the version sky/web/package-lock.json pins)"
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix sky/web --no-audit --no-fund --silent; \
	else echo "npm not found: /sky will say Aladin Lite is missing"; fi
	@touch $(STAMP)
	@echo "install done: $(BIN)/skygate"

$(EDITOR_JS): portal/package-lock.json portal/editor/editor.js
	if command -v npm >/dev/null; then cd portal && npm ci --no-audit --no-fund && npm run build; \
	else echo "npm not found: the query page uses a plain text box"; fi

editor: $(EDITOR_JS)

demo: $(STAMP)
	$(BIN)/skygate demo --profile $(PROFILE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy dali adql release uws auth tap sia soda anomaly registry sky portal skygate

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
