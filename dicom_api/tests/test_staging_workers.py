"""Staging with real ``db_worker`` processes (issue 21): a worker SIGKILLed during a long send
leaves its staging folder, with hard links to the import's files; housekeeping (``manage.py
housekeeping``, a real process) removes it once the attempt no longer runs, and another worker
completes the transfer. After a cancel and the DELETE of the import, no copy of its files is left
anywhere the service wrote: DATA_DIR (imports, upload temporary files, staging, logs) and the
workers' system temporary folder, where nothing of a send may go."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.models import TransferLog
from dicom_api.tests.test_transfers_worker import destination, send, wait_for
from dicomnet import dcmsend
from testsupport.dicom_data import GeneratedSeries, generate_series, import_files
from testsupport.fault_scp import FaultSCP, fault_scp
from testsupport.private_files import Fingerprints, copies_of, exposed_paths
from testsupport.workers import ROOT, Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PATIENT = "STAGED^KILLED^WORKER"


@pytest.fixture
def data_dir(tmp_path: Path, settings: Any) -> Path:
    """A DATA_DIR of a 3.3 KB path, shared by this test process (the web side) and its workers.

    dcmsend gets links in its working folder (in staging) instead of the files' paths when the
    paths take more than 1 MiB of command line: with paths this long that is a series of ~300
    instances, as it is ~10,000 at the usual lengths (the 12,000 files the issue found)."""
    path = tmp_path
    for n in range(13):
        path = path / (f"{n:02d}" + "d" * 248)
    path = path / "data"
    # Made here as the service makes them: private (what the service writes is checked below).
    (path / "imports").mkdir(mode=0o700, parents=True)
    path.chmod(0o700)
    (path / "tmp").mkdir(mode=0o700)
    settings.DATA_DIR = path
    settings.IMPORTS_DIR = path / "imports"
    settings.FILE_UPLOAD_TEMP_DIR = str(path / "tmp")
    return path


@pytest.fixture
def long_series(tmp_path: Path, data_dir: Path, user: User) -> tuple[GeneratedSeries, Any]:
    per_file = len(str(data_dir / "imports")) + 120  # /<import id>/<stored name>, and a separator
    series = generate_series(tmp_path / "src", dcmsend._MAX_FILE_ARGUMENT_BYTES // per_file + 20, patient_name=PATIENT)
    session = import_files(user, series.files)
    stored = sorted(session.directory.rglob("*"))
    assert sum(len(str(p)) + 1 for p in stored if p.is_file()) > dcmsend._MAX_FILE_ARGUMENT_BYTES
    return series, session


@pytest.fixture
def system_temp(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """The workers' TMPDIR (so ``tempfile.gettempdir()`` of the service is a folder this test
    alone watches: other programs on the machine share /tmp), and what ever appeared in it."""
    folder = tmp_path / "system-temp"
    folder.mkdir()
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.02):
            seen.extend(p.name for p in folder.iterdir() if p.name not in seen)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    yield folder, seen
    stop.set()
    watcher.join()


def _exposed(data_dir: Path) -> list[str]:
    """What the service made under DATA_DIR that others may read (the harness's own capture of
    the workers' output, ``worker-N.log``, is not the service's)."""
    return [entry for entry in exposed_paths(data_dir) if not Path(entry.rsplit(" ", 1)[0]).name.startswith("worker-")]


def _staged_links(data_dir: Path) -> list[Path]:
    staging = data_dir / "staging"
    return [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []


def _kill_mid_send(pool: Workers, peer: FaultSCP, log_id: int, imported: Fingerprints, data_dir: Path) -> None:
    """SIGKILL the sending worker once the peer holds 10 instances; check what it left in staging."""
    deadline = time.monotonic() + 60
    while len(peer.received) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(peer.received) >= 10, pool.output()
    (doomed,) = [p for p in pool.processes if p.poll() is None]
    pool.kill(doomed)
    log = TransferLog.objects.get(pk=log_id)
    assert log.status == "sending"
    left = _staged_links(data_dir)
    # The killed attempt's folder, named after its claim, with a link to every file of the series.
    folders = {p.relative_to(data_dir / "staging").parts[0] for p in left}
    assert len(folders) == 1 and folders.pop().startswith(f"transfer-{log_id}-")
    assert len(left) == log.instance_count
    assert len(copies_of(imported, [data_dir / "staging"])) == log.instance_count
    assert _exposed(data_dir) == []


def _housekeeping(pool: Workers, *, until: str) -> str:
    """``manage.py housekeeping`` as an operator (or cron) runs it, until ``until`` is in its output."""
    deadline = time.monotonic() + 20
    while True:
        result = subprocess.run(
            [sys.executable, "manage.py", "housekeeping"],
            cwd=ROOT,
            env=pool.environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        if until in result.stdout.splitlines() or time.monotonic() > deadline:
            return result.stdout
        time.sleep(0.5)


def test_a_worker_killed_during_a_long_send_leaves_no_staging_after_housekeeping_and_another_completes_it(
    long_series: tuple[GeneratedSeries, Any],
    data_dir: Path,
    client_user: APIClient,
    system_temp: tuple[Path, list[str]],
) -> None:
    series, session = long_series
    imported = Fingerprints.of([p for p in session.directory.rglob("*") if p.is_file()], marker=PATIENT)
    temp_dir, temp_seen = system_temp
    pool = Workers(data_dir, TMPDIR=str(temp_dir))
    try:
        with fault_scp("SLOWLONG", delay=0.04) as peer:
            target = destination("slow-long", "SLOWLONG", peer.port)
            pool.start(1)
            (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
            _kill_mid_send(pool, peer, log_id, imported, data_dir)

            # No worker runs: housekeeping alone recovers the transfer (its heartbeat is stale after
            # TRANSFER_STALE_AFTER, 3 s here) and removes the staging of the attempt that no longer runs.
            output = _housekeeping(pool, until="recover_stale_transfers: 1")
            assert "recover_stale_transfers: 1" in output.splitlines(), output
            assert "sweep_staging: 1" in output.splitlines(), output
            assert TransferLog.objects.get(pk=log_id).status == "pending"
            assert _staged_links(data_dir) == []
            assert list((data_dir / "staging").iterdir()) == []

            pool.start(1)
            (log,) = wait_for([log_id], {"success", "failed"}, timeout=120)
            received = set(peer.received)
    finally:
        pool.stop()
    assert log.status == "success", log.error_message
    assert received == set(series.sop_instance_uids)
    assert (log.attempt, [a["outcome"] for a in log.details["attempts"]]) == (2, ["worker_lost", "success"])
    assert list((data_dir / "staging").iterdir()) == []
    assert _exposed(data_dir) == []
    assert (temp_seen, list(temp_dir.iterdir())) == ([], [])


def test_after_a_killed_send_a_cancel_and_the_imports_delete_no_copy_of_its_files_is_left(
    long_series: tuple[GeneratedSeries, Any],
    data_dir: Path,
    client_user: APIClient,
    system_temp: tuple[Path, list[str]],
) -> None:
    """The issue's finding: a dead worker's links outlived the deleted import, outside DATA_DIR."""
    series, session = long_series
    imported = Fingerprints.of([p for p in session.directory.rglob("*") if p.is_file()], marker=PATIENT)
    temp_dir, temp_seen = system_temp
    pool = Workers(data_dir, TMPDIR=str(temp_dir))
    try:
        with fault_scp("SLOWLONG", delay=0.04) as peer:
            target = destination("slow-long", "SLOWLONG", peer.port)
            pool.start(1)
            (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
            _kill_mid_send(pool, peer, log_id, imported, data_dir)
        assert client_user.post(f"/api/dicom/transfers/{log_id}/cancel/").status_code == 200
        assert client_user.delete(f"/api/dicom/imports/{session.pk}/").status_code == 204
        assert not session.directory.exists()
        # Deleting the import removed its folder, but the dead attempt's links still hold every file.
        left = copies_of(imported, [data_dir, temp_dir])
        assert len(left) == series_length(series) and all("/staging/" in entry for entry in left)

        output = _housekeeping(pool, until="sweep_staging: 1")
        assert "sweep_staging: 1" in output.splitlines(), output
    finally:
        pool.stop()
    assert copies_of(imported, [data_dir, temp_dir]) == []
    assert list((data_dir / "staging").iterdir()) == []
    assert _exposed(data_dir) == []
    assert (temp_seen, list(temp_dir.iterdir())) == ([], [])


def series_length(series: GeneratedSeries) -> int:
    return len(series.sop_instance_uids)
