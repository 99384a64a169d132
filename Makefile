# flask-ome-privacy: developer and CI entry points (GNU make).
#   make demo        serve the example WORLD OME NET site on http://127.0.0.1:$(PORT)
#   make serve       the same the production way: gunicorn + an RQ worker on Redis
#   make test        lint (ruff, mypy, bandit), then the suite on SQLite, then again on PostgreSQL
#   make help        list the targets

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
PYTEST_ARGS ?=
SERVE_WORKERS ?= 3
# Root installs directly; anyone else goes through sudo when it exists.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

FONT_GLOB := /usr/share/fonts/*/ipafont-gothic/ipag*.ttf
BABEL_KEYWORDS := -k N_ -k _ -k lazy_gettext -k gettext -k ngettext:1,2 -k lazy_ngettext:1,2
# Unwrapped msgids, as the catalogs are written: no reflow churn in diffs.
BABEL_WRAP := --no-wrap
PKG_TR := flask_ome_privacy/translations
# The one place the version is written is flask_ome_privacy/__init__.py.
PKG_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' flask_ome_privacy/__init__.py)
APP_TR := example_app/translations
LANGS := ja en

.PHONY: help venv system-deps serve-deps bench-deps demo serve test test-sqlite test-postgres bench lint translations \
	wheel-check clean distclean

help:
	@echo "make venv          create $(VENV) and install -e .[test] (again only when setup.cfg/pyproject.toml change)"
	@echo "make system-deps   apt-get install chromium + fonts-ipafont-gothic when missing (browser tests)"
	@echo "make demo          migrate + seed instance/demo.sqlite, serve on http://127.0.0.1:$(PORT) (PORT=...; demo sign-in on)"
	@echo "make serve         the same under gunicorn ($(SERVE_WORKERS) workers) + an RQ worker; DATABASE_URL, REDIS_URL"
	@echo "make serve-deps    apt-get install redis-server when missing (make serve starts it if nothing answers)"
	@echo "make test          lint (ruff, mypy), pytest on SQLite, pytest on PostgreSQL (OME_TEST_DB=postgresql)"
	@echo "make test-sqlite   pytest on SQLite only (PYTEST_ARGS=... passes options through)"
	@echo "make test-postgres pytest on PostgreSQL only (browser tests skipped)"
	@echo "make bench         gunicorn + PostgreSQL + wrk: the table in bench/RESULTS.md (bench/server.py),"
	@echo "                   then the in-process timings (bench/run.py); installs wrk when missing"
	@echo "make lint          ruff check ., mypy (strict, on the package) and bandit (package + example site)"
	@echo "make translations  extract, update and compile both message catalogs"
	@echo "make wheel-check   build the wheel into dist/ and check its contents"
	@echo "make clean         remove build, cache and test artifacts (distclean: also $(VENV))"

# --- environment -----------------------------------------------------------------------

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

venv: $(VENV)/.installed

system-deps:
	@if [ -x /usr/bin/chromium ] && ls $(FONT_GLOB) >/dev/null 2>&1; then \
		echo "system-deps: chromium and fonts-ipafont-gothic present"; \
	else \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium fonts-ipafont-gothic; \
	fi

# redis-server for `make serve` when no Redis is given (REDIS_URL) or running.
serve-deps:
	@if command -v redis-server >/dev/null; then \
		echo "serve-deps: redis-server present"; \
	else \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y redis-server; \
	fi

# wrk drives the real-server benchmark (bench/server.py).
bench-deps:
	@if command -v wrk >/dev/null 2>&1; then \
		echo "bench-deps: wrk present"; \
	else \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; \
	fi

# --- running ---------------------------------------------------------------------------

# WORLD_OME_DEMO=1 turns on the demo "Continue with Facebook" (signs in as any linked account): never in production.
demo: venv
	$(BIN)/flask --app example_app demo-setup
	WORLD_OME_DEMO=1 $(BIN)/flask --app example_app run --host 127.0.0.1 --port $(PORT)

# Production-style on one machine: gunicorn ($(SERVE_WORKERS) workers) + `flask ome-privacy worker`,
# on DATABASE_URL (default instance/demo.sqlite) and REDIS_URL (default the local Redis,
# started for the run if nothing answers). See README, "Running in production".
serve: venv serve-deps
	BIN=$(BIN) PORT=$(PORT) SERVE_WORKERS=$(SERVE_WORKERS) bash example_app/serve.sh

bench: venv bench-deps
	$(BIN)/python bench/server.py
	$(BIN)/python bench/run.py

# --- checks ----------------------------------------------------------------------------

# bandit: any finding fails (low ones too); one that stays is justified on its line (# nosec BXXX  # why).
# Its "nosec encountered ..., but no failed test" warning is dropped: bandit repeats it for every
# other line of a multi-line statement (config.py's DEFAULT_CONFIG) holding one justified line.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/bandit -q -c pyproject.toml -r flask_ome_privacy example_app 2> >(grep -v 'nosec encountered' >&2)

# Runs all three even when one fails, so one run shows everything; fails if any failed.
test: venv system-deps bench-deps
	@status=0; \
	echo "== make lint (ruff, mypy --strict, bandit)"; $(MAKE) --no-print-directory lint || status=1; \
	echo "== pytest on SQLite"; $(MAKE) --no-print-directory test-sqlite || status=1; \
	echo "== pytest on PostgreSQL"; $(MAKE) --no-print-directory test-postgres || status=1; \
	exit $$status

test-sqlite: venv
	OME_TEST_DB=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: venv
	OME_TEST_DB=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS)

wheel-check: venv
	rm -rf dist build
	$(BIN)/python -m pip wheel --no-deps -w dist .
	$(BIN)/python tests/test_packaging.py dist/flask_ome_privacy-*.whl

# --- translations ----------------------------------------------------------------------

translations: venv
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) $(BABEL_WRAP) \
		--project=flask-ome-privacy --version=$(PKG_VERSION) -o $(PKG_TR)/messages.pot flask_ome_privacy
	@for lang in $(LANGS); do \
		if [ -f $(PKG_TR)/$$lang/LC_MESSAGES/ome_privacy.po ]; then \
			$(BIN)/pybabel update $(BABEL_WRAP) --ignore-pot-creation-date --no-fuzzy-matching -i $(PKG_TR)/messages.pot -d $(PKG_TR) -D ome_privacy -l $$lang || exit 1; \
		else \
			$(BIN)/pybabel init $(BABEL_WRAP) -i $(PKG_TR)/messages.pot -d $(PKG_TR) -D ome_privacy -l $$lang || exit 1; \
		fi; \
	done
	$(BIN)/pybabel compile -d $(PKG_TR) -D ome_privacy --statistics
	mkdir -p $(APP_TR)
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) $(BABEL_WRAP) \
		--project=example_app -o $(APP_TR)/messages.pot example_app
	@for lang in $(LANGS); do \
		if [ -f $(APP_TR)/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update $(BABEL_WRAP) --ignore-pot-creation-date --no-fuzzy-matching -i $(APP_TR)/messages.pot -d $(APP_TR) -D messages -l $$lang || exit 1; \
		else \
			$(BIN)/pybabel init $(BABEL_WRAP) -i $(APP_TR)/messages.pot -d $(APP_TR) -D messages -l $$lang || exit 1; \
		fi; \
	done
	$(BIN)/pybabel compile -d $(APP_TR) -D messages --statistics

# --- housekeeping ----------------------------------------------------------------------

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
