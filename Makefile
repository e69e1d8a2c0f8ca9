# The two commands of the quick start: `make run` and `make test`.
# Both create .venv, install pinned versions from constraints.txt, and are safe to repeat.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test lint typecheck unit fuzz services mosquitto web clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("cityhub needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

# pycanon (the independent k/l check of `cityhub privacy verify`) pins exact old versions of
# pandas, numpy and typer in its metadata; it needs only numpy and pandas, so it goes in
# without its declared dependencies (docs/privacy.md, "Releases").
PYCANON := $(PIP) install --no-deps -c constraints.txt pycanon

$(VENV)/.installed-run: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e .
	$(PYCANON)
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e '.[test]'
	$(PYCANON)
	touch $@ $(VENV)/.installed-run

# `cityhub up` runs an embedded Mosquitto with logins and topic rules (docs/running.md).
run: $(VENV)/.installed-run mosquitto web
	$(BIN)/cityhub up

# The console page's front-end packages (font, chart) come from npm at setup, never a CDN.
WEB := ops_console/web
$(WEB)/node_modules/.package-lock.json: $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null 2>&1 || scripts/install-node
	cd $(WEB) && npm ci --no-audit --no-fund

web: $(WEB)/node_modules/.package-lock.json

mosquitto:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || scripts/install-mosquitto

# The integration tests start their own throw-away Mosquitto; PostgreSQL comes from
# CITYHUB_TEST_DATABASE_URL, the local server on 127.0.0.1:5432, or the embedded wheel.
services: mosquitto
	@scripts/install-test-tools

lint: $(VENV)/.installed-test
	$(BIN)/ruff check hub ingest analytics ops_console devices tests

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

test: $(VENV)/.installed-test services web lint typecheck
	$(BIN)/pytest

unit: $(VENV)/.installed-test
	$(BIN)/pytest -m 'not integration'

# The fuzz suite with many more examples than `make test` gives it (docs/testing.md).
fuzz: $(VENV)/.installed-test services
	$(BIN)/cityhub bench fuzz

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
