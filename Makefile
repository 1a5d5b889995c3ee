# DICOM Transfer. `make run` starts the whole system on the embedded default (SQLite under
# DATA_DIR); `make test` runs ruff and the test suite against PostgreSQL. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DATABASE_URL_TEST ?= postgres://postgres@127.0.0.1:5432/dicom_transfer

ARGS ?=

.PHONY: run manage test lint format setup setup-dev setup-ldap ldap-build-deps dcmtk orthanc chromium slapd axe bench bench-wan bench-compare bench-dashboard clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt requirements-ldap.txt $(VENV)/.runtime | ldap-build-deps
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Directory login (optional): python-ldap is built against OpenLDAP's and SASL's headers.
ldap-build-deps:
	@scripts/ensure-packages.sh libldap2-dev /usr/include/ldap.h
	@scripts/ensure-packages.sh libsasl2-dev /usr/include/sasl/sasl.h

setup-ldap: $(VENV)/.runtime ldap-build-deps
	$(PY) -m pip install --quiet -r requirements-ldap.txt

setup: $(VENV)/.runtime dcmtk

setup-dev: $(VENV)/.dev dcmtk orthanc chromium slapd axe

dcmtk:
	@scripts/ensure-packages.sh dcmtk dcmsend echoscu storescp

# The DICOMweb tests load Orthanc's DICOMweb plugin (a file, not a program).
orthanc:
	@scripts/ensure-packages.sh orthanc Orthanc
	@scripts/ensure-packages.sh orthanc-dicomweb /usr/share/orthanc/plugins/libOrthancDicomWeb.so

# The directory login tests start their own OpenLDAP server.
slapd:
	@scripts/ensure-packages.sh slapd slapd

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

# The WAN part of `make bench` alone (parallel associations through a delay proxy; bench/wan.py).
bench-wan: setup-dev
	DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_TEST)} $(PY) bench/run.py --only wan

# This checkout against an earlier commit, the send of 1,000 small instances, in one run:
#   make bench-compare REF=d1aaab7
bench-compare: setup-dev
	DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_TEST)} $(PY) bench/compare.py $(REF)

# The dashboard and /metrics over 1,000,000 audit entries, in a PostgreSQL database of its own.
bench-dashboard: setup-dev
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/dicom_bench_dashboard} $(PY) bench/dashboard.py --runs 50

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
