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
# promtool and the server for the alert-rule tests (tests use their own ports, never 9090)
APT_PACKAGES += prometheus
PYTEST_ARGS ?=
# Test files run on this many processes (pytest-xdist; a file's tests stay on one process, so
# its module fixtures start once). Most of the suite waits on real servers, real-time video
# and browsers, not the CPU: three processes on this 2-core machine kept both cores 88 % busy
# and took pytest from 18 min (two) to 12 min. `make test PYTEST_WORKERS=0` runs one process.
# --durations lists the 25 slowest steps, to see what holds CI up.
# --max-worker-restart 0: a crashed test process ends the run at once with the crash's
# traceback. Replacing it under --dist loadfile can deadlock the whole run (pytest-xdist
# issue #1378, open; xdist 3.8.0 sat idle for the rest of a 90-min CI after a segfault).
PYTEST_WORKERS ?= 3
# What `beholder` itself needs from the system at run time (the container image, bare-metal
# installs): pg_dump/pg_restore for `beholder backup|restore` on PostgreSQL and the C++ runtime of
# the YuNet detector (PyAV, OpenCV and aiortc bring their own FFmpeg/codec libraries in their
# wheels). APT_PACKAGES above is what only the tests need; `make test` installs both lists, so
# it runs on what the image has.
APT_RUNTIME_PACKAGES := postgresql-client libstdc++6
APT_PACKAGES += $(APT_RUNTIME_PACKAGES)
# nginx -t of deploy/proxy/nginx.conf (tests/unit/test_deploy_proxy.py)
APT_PACKAGES += nginx-light
# Line coverage of src/ in the pytest process, files below 100 % listed; the floor is
# fail_under in pyproject.toml ([tool.coverage.report]). `make test PYTEST_COV=` skips it.
PYTEST_COV ?= --cov --cov-report=term:skip-covered

.PHONY: run test venv web system-deps services lint typecheck openapi gen-api frontend-test clean
.PHONY: cluster
.PHONY: install system-deps-runtime

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

# A production install into $(VENV): the package with the dependencies `make venv` installs
# minus the dev extras, not editable, the built web app inside it. The container image
# (deploy/docker/Dockerfile) and bare-metal installs (docs/DEPLOY.md) run this, so they get
# what pyproject.toml declares and CI tests.
install: web
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --no-cache-dir --upgrade pip
	$(PIP) install --quiet --no-cache-dir .

run: $(STAMP) web
	$(VENV)/bin/beholder migrate
	$(VENV)/bin/beholder serve

# A local distributed cluster: nats-server -js, APIS apis, WORKERS workers, nginx on PORT
# (the local PostgreSQL's database beholder_cluster, created if missing). Ctrl-C stops it.
APIS ?= 2
WORKERS ?= 3
PORT ?= 8080
cluster: $(STAMP) web services
	@$(MAKE) --no-print-directory system-deps APT_PACKAGES="nginx-light"
	$(VENV)/bin/beholder cluster up --apis $(APIS) --workers $(WORKERS) --port $(PORT)

# System packages for the real-part tests (RTSP server, ffmpeg, chromium). Only as root.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else echo "missing system packages (run as root or install them): $$missing"; fi; \
	fi

# Only the run-time system packages (the image's runtime stage; bare metal). Only as root.
system-deps-runtime:
	@$(MAKE) --no-print-directory system-deps APT_PACKAGES="$(APT_RUNTIME_PACKAGES)"

# PostgreSQL, Redis and NATS run on the development and CI machines; start any that stopped.
services:
	@bash scripts/ensure-services.sh

test: system-deps $(STAMP) web services
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(MAKE) --no-print-directory frontend-test
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --max-worker-restart 0 --durations=25 $(PYTEST_COV) $(PYTEST_ARGS)

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
