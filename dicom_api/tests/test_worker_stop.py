"""Recovery in seconds, with real db_worker processes: a worker stopped with SIGINT/SIGTERM
releases its transfer at once (ledger saved, attempt not counted) and the next worker sends only
the rest; a worker killed with SIGKILL is replaced within 15 s with the default settings."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.models import TransferInstance, TransferLog
from dicom_api.tests import test_transfers_worker as worker_tests
from dicom_api.tests.test_transfers_worker import destination, send, wait_for
from testsupport.dicom_data import generate_series, import_files
from testsupport.fault_scp import fault_scp
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

workers = worker_tests.workers

COUNT = 1000


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - started


def _acknowledged(transfer_id: int) -> int:
    return TransferInstance.objects.filter(transfer_id=transfer_id, outcome="acknowledged").count()


def test_ctrl_c_of_the_workers_releases_the_transfer_at_once_and_a_restart_sends_only_the_rest(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "src", COUNT, patient_name="STOP^TEST")
    session = import_files(user, series.files)
    # A stale transfer is recovered only after a minute here: only the release can be fast.
    quiet = {"TRANSFER_STALE_AFTER": "60", "TRANSFER_PROGRESS_INTERVAL": "0.5"}
    with fault_scp("STOPME", delay=0.004) as peer:
        target = destination("stopme", "STOPME", peer.port)
        pool = workers(1, **quiet)
        (process,) = pool.processes
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        _wait_until(lambda: len(peer.received) >= 200, 60, "200 instances to arrive")
        # What Ctrl-C of `make run` does: SIGINT to the group, then run.sh's SIGTERM.
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        log = TransferLog.objects.get(pk=log_id)
        _wait_until(lambda: peer.open_associations == 0, 5, "the association to end")
        before_restart = len(peer.received)
        assert before_restart < COUNT, "the send ended before the stop: nothing to resume"
        assert (log.status, log.attempt) == ("pending", 0), log.error_message
        assert log.details["attempts"][-1]["outcome"] == "released"
        assert "The worker was stopped" in log.error_message
        # The ledger was saved: what the receiver holds (the one instance in flight when dcmsend
        # was stopped may have been stored without its response reaching us).
        assert before_restart - 1 <= _acknowledged(log_id) <= before_restart

        restarted = time.monotonic()
        pool.start(1)
        resumed = _wait_until(
            lambda: TransferLog.objects.get(pk=log_id).status != "pending", 30, "the restarted worker to claim it"
        )
        assert time.monotonic() - restarted < 5
        (log,) = wait_for([log_id], {"success", "failed"}, timeout=120)
        arrivals = Counter(sop for sop, _ in peer.arrivals)
    assert log.status == "success", log.error_message
    assert set(arrivals) == set(series.sop_instance_uids)
    assert sum(arrivals.values()) - COUNT <= 1  # only the remainder was sent (at most the one in flight again)
    assert log.attempt == 1  # the stopped attempt is not counted
    assert [a["outcome"] for a in log.details["attempts"]] == ["released", "success"]
    assert _acknowledged(log_id) == COUNT
    assert resumed < 5


def test_a_worker_killed_with_sigkill_is_replaced_within_15_s_with_the_default_settings(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "src", COUNT, patient_name="KILL^TEST")
    session = import_files(user, series.files)
    defaults = {
        "TRANSFER_STALE_AFTER": "10",
        "WORKER_HEARTBEAT_INTERVAL": "2",
        "HOUSEKEEPING_INTERVAL": "60",
        "TRANSFER_PROGRESS_INTERVAL": "0.5",
    }
    with fault_scp("KILLME", delay=0.004) as peer:
        target = destination("killme", "KILLME", peer.port)
        pool = workers(2, **defaults)
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        _wait_until(lambda: len(peer.received) >= 200, 60, "200 instances to arrive")
        token = TransferLog.objects.get(pk=log_id).claim_token
        (doomed,) = [p for p in pool.processes if f":{p.pid}:" in token]
        pool.kill(doomed)
        killed = time.monotonic()
        taken_over = _wait_until(
            lambda: TransferLog.objects.filter(pk=log_id, status="sending").exclude(claim_token=token).exists(),
            30,
            "another worker to take the transfer over",
        )
        (log,) = wait_for([log_id], {"success", "failed"}, timeout=120)
        arrivals = Counter(sop for sop, _ in peer.arrivals)
    assert taken_over <= 15, f"taken over after {taken_over:.1f} s"
    assert time.monotonic() - killed < 15 + 60
    assert log.status == "success", log.error_message
    assert set(arrivals) == set(series.sop_instance_uids)
    # At most the last progress tick's acknowledgements were not saved: those few go again.
    assert sum(arrivals.values()) - COUNT <= 0.5 / 0.004 + 1
    assert [a["outcome"] for a in log.details["attempts"]] == ["worker_lost", "success"]
