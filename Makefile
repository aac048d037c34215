# Beholder — the two commands: `make run` (set up + serve) and `make test` (set up + test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
WEB_STAMP := src/beholder/web/.built
FRONTEND_SRC := $(shell find frontend -path frontend/node_modules -prune -o -type f -print 2>/dev/null)
APT_PACKAGES := ffmpeg gstreamer1.0-tools gstreamer1.0-rtsp gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
	gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0 chromium postgresql-client
PYTEST_ARGS ?=
# Line coverage of src/ in the pytest process, files below 100 % listed; the floor is
# fail_under in pyproject.toml ([tool.coverage.report]). `make test PYTEST_COV=` skips it.
PYTEST_COV ?= --cov --cov-report=term:skip-covered

.PHONY: run test venv web system-deps services lint typecheck openapi gen-api frontend-test clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Build the web app into the package when its sources changed (needs node + npm).
$(WEB_STAMP): $(FRONTEND_SRC)
	@if [ -f frontend/package.json ]; then \
		if command -v npm >/dev/null; then \
			(cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build) && touch $(WEB_STAMP); \
		else echo "npm not found: skipping the web app build (API still works)"; fi; \
	fi

web: $(WEB_STAMP)

run: $(STAMP) web
	$(VENV)/bin/beholder migrate
	$(VENV)/bin/beholder serve

# System packages for the real-part tests (RTSP server, ffmpeg, chromium). Only as root.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else echo "missing system packages (run as root or install them): $$missing"; fi; \
	fi

# PostgreSQL, Redis and NATS run on the development and CI machines; start any that stopped.
services:
	@bash scripts/ensure-services.sh

test: system-deps $(STAMP) web services
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(MAKE) --no-print-directory frontend-test
	$(VENV)/bin/pytest $(PYTEST_COV) $(PYTEST_ARGS)

# Web app: type check, unit tests (Vitest, with line coverage and its floors from
# frontend/vite.config.ts) and drift of the generated API client.
frontend-test: $(WEB_STAMP) openapi
	cd frontend && npm run --silent typecheck && npm test --silent
	cd frontend && npm run --silent check:api

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports

typecheck:
	$(VENV)/bin/mypy

openapi: $(STAMP)
	$(PY) -c "import json; from beholder.api.app import create_app; from beholder.config import Settings; print(json.dumps(create_app(Settings(data_dir='/tmp/beholder-openapi')).openapi(), indent=1, sort_keys=True))" > frontend/openapi.json

gen-api: openapi
	cd frontend && npm run gen:api

clean:
	rm -rf $(VENV) src/beholder/web frontend/node_modules
