# DICOM Transfer. `make run` starts the whole system on the embedded default (SQLite under
# DATA_DIR); `make test` runs ruff and the test suite against PostgreSQL. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DATABASE_URL_TEST ?= postgres://postgres@127.0.0.1:5432/dicom_transfer

.PHONY: run test lint format setup setup-dev dcmtk orthanc chromium axe bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime dcmtk

setup-dev: $(VENV)/.dev dcmtk orthanc chromium axe

dcmtk:
	@scripts/ensure-packages.sh dcmtk dcmsend echoscu storescp

orthanc:
	@scripts/ensure-packages.sh orthanc Orthanc

# The web page's end-to-end tests drive Debian's Chromium with Playwright (never `playwright install`).
chromium:
	@scripts/ensure-packages.sh chromium chromium

# axe-core checks the page's accessibility in the Chromium tests. Test-only: it lands under var/
# (not committed, never served); AXE_CORE_VERSION is the one the tests were written against.
AXE_CORE_VERSION := 4.14.1
AXE_JS := var/axe/node_modules/axe-core/axe.min.js

axe: $(AXE_JS)

$(AXE_JS):
	@scripts/ensure-packages.sh npm npm
	npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix var/axe axe-core@$(AXE_CORE_VERSION)

run: setup
	scripts/run.sh

test: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy dicom_transfer authentication destinations dicom_api dicomnet webui
	rm -rf var/test-run
	DATA_DIR=$(CURDIR)/var/test-run DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_TEST)} DEBUG=1 $(VENV)/bin/pytest

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup-dev
	DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_TEST)} $(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
