"""A pytest plugin: after the whole run, no patient name or patient id may be in an application log.

Loaded from the root conftest.py. At the start of the session it notes where the application log
file (``LOG_DIR/dicom_transfer.log``) ends; at the end it reads what this run appended, plus the
logs of every worker the tests started (``testsupport.workers.Workers`` writes ``worker-N.log``
and the worker's own ``logs/dicom_transfer.log`` under the test's temporary directory), and
searches them for every name and id of ``testsupport.patients.registry()``. A hit fails the run
(exit status 1) and names the file, the line and the value: a patient's name in a log file is a
data leak, whatever the tests said.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testsupport.patients import leaks_in, registry

_START = pytest.StashKey[int]()


def _log_file() -> Path:
    from django.conf import settings

    return Path(settings.LOG_DIR) / "dicom_transfer.log"


def pytest_sessionstart(session: pytest.Session) -> None:
    path = _log_file()
    session.stash[_START] = path.stat().st_size if path.exists() else 0


def _worker_logs(session: pytest.Session) -> list[Path]:
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return []
    base = factory.getbasetemp()
    return sorted([*base.rglob("worker-*.log"), *base.rglob("logs/dicom_transfer.log")])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    values = registry()
    texts: list[tuple[str, str]] = []
    path = _log_file()
    if path.exists():
        with path.open("rb") as f:
            f.seek(session.stash.get(_START, 0))
            texts.append((str(path), f.read().decode("utf-8", "replace")))
    for worker_log in _worker_logs(session):
        texts.append((str(worker_log), worker_log.read_text("utf-8", "replace")))
    found = [(name, line, value) for name, text in texts for line, value in leaks_in(text, values)]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if found:
        if reporter is not None:
            reporter.write_sep("=", "PATIENT DATA IN APPLICATION LOGS", red=True, bold=True)
            for name, line, value in found[:50]:
                reporter.write_line(f"{name}: {value!r} in: {line[:300]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None and reporter.verbosity >= 0:
        lines = sum(text.count("\n") for _, text in texts)
        reporter.write_line(
            f"log check: {lines} log lines from {len(texts)} files hold none of {len(values)} patient names and ids"
        )
