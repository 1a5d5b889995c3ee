"""A destination that is down for several backoff periods, then back: it shows unreachable
meanwhile, its queued transfers wait for one probe instead of each burning attempts, and they
complete by themselves when it returns. Real workers, a real peer on the destination's port."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.models import TransferLog
from dicom_api.tests import test_transfers_worker as worker_tests
from dicom_api.tests.test_transfers_worker import destination, send, wait_for
from testsupport.dicom_data import generate_series, import_files
from testsupport.fault_scp import fault_scp
from testsupport.peers import free_port
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

workers = worker_tests.workers


def test_queued_transfers_to_a_destination_that_comes_back_complete_by_themselves(
    tmp_path: Path, user: User, client_user: APIClient, client_admin: APIClient, workers: Callable[..., Workers]
) -> None:
    study = [generate_series(tmp_path / f"s{n}", 5, patient_name="DOWN^TEST") for n in range(4)]
    session = import_files(user, [path for series in study for path in series.files])
    port = free_port()
    target = destination("flaky", "FLAKY", port)
    workers(2, TRANSFER_RETRY_BACKOFF="0.5", TRANSFER_RETRY_BACKOFF_MAX="2", TRANSFER_RETRY_FOR="600")
    ids = send(client_user, session, [series.series_instance_uid for series in study], [target])

    def state() -> dict[str, object]:
        (entry,) = [d for d in client_admin.get("/api/destinations/").json() if d["id"] == target.pk]
        return dict(entry["state"])

    deadline = time.monotonic() + 30
    while state()["reachable"] and time.monotonic() < deadline:
        time.sleep(0.1)
    down = state()
    assert down["reachable"] is False
    assert down["since"] is not None
    assert "Nothing accepts connections" in str(down["last_error"])
    time.sleep(6)  # several probe periods (0.5, 1, 2, 2 s)
    waiting = list(TransferLog.objects.filter(pk__in=ids))
    assert {log.status for log in waiting} <= {"pending", "sending"}
    # One probe at a time: the queue did not burn an attempt per transfer per period.
    attempts = sum(log.attempt for log in waiting)
    assert attempts <= 2 + 5, [log.attempt for log in waiting]
    assert any(log.attempt <= 1 for log in waiting)
    assert all(log.next_attempt_at is not None for log in waiting if log.status == "pending")
    status = client_user.get(f"/api/dicom/status/?ids={ids[0]}").json()["transfers"][0]
    assert status["next_attempt_at"] is not None or status["status"] == "sending"

    with fault_scp("FLAKY", port=port) as peer:
        logs = wait_for(ids, {"success", "failed"}, timeout=30)
        received = set(peer.received)
    assert [log.status for log in logs] == ["success"] * 4, [log.error_message for log in logs]
    assert received == {sop for series in study for sop in series.sop_instance_uids}
    assert state()["reachable"] is True
    assert state()["since"] is None
