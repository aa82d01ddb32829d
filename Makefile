# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The portal's ADQL editor (CodeMirror 6 from the npm registry, portal/package-lock.json), bundled here;
# without npm the query page falls back to a plain text box.
EDITOR_JS := portal/static/build/editor.js
PROFILE ?= demo

.PHONY: serve test venv demo lint typecheck clean editor

serve: $(STAMP) $(EDITOR_JS)
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
