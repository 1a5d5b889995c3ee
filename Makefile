# DICOM Transfer. `make run` starts the whole system on the embedded default (SQLite under
# DATA_DIR); `make test` runs ruff and the test suite against PostgreSQL. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DATABASE_URL_TEST ?= postgres://postgres@127.0.0.1:5432/dicom_transfer

ARGS ?=

.PHONY: run manage test lint format setup setup-dev dcmtk orthanc chromium bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime dcmtk

setup-dev: $(VENV)/.dev dcmtk orthanc chromium

dcmtk:
	@scripts/ensure-packages.sh dcmtk dcmsend echoscu storescp

orthanc:
	@scripts/ensure-packages.sh orthanc Orthanc

# The web page's end-to-end tests drive Debian's Chromium with Playwright (never `playwright install`).
chromium:
	@scripts/ensure-packages.sh chromium chromium

run: setup
	scripts/run.sh

# A maintenance command on the installation `make run` made, e.g.
#   make manage ARGS=createsuperuser    make manage ARGS="changepassword alice"
# (settings read the key from DATA_DIR/secret_key when SECRET_KEY is unset).
manage: $(VENV)/.runtime
	$(PY) manage.py $(ARGS)

test: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy dicom_transfer authentication destinations dicom_api dicomnet webui scripts/supervise.py
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
