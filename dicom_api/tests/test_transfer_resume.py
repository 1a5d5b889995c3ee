"""The ledger with real workers and real peers: a later attempt sends only what the destination
has not acknowledged, and a damaged file fails alone. Asserted on what the receiver holds, by SOP
Instance UID (the fault SCP keeps every arrival, so a resent instance would show twice)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.models import TransferInstance
from dicom_api.tests import test_transfers_worker as worker_tests
from dicom_api.tests.test_transfers_worker import destination, send, wait_for
from testsupport.dicom_data import damage, generate_series, import_files
from testsupport.fault_scp import fault_scp
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

workers = worker_tests.workers  # the same fixture: real db_worker processes, stopped after the test


def _ledger(transfer_id: int) -> Counter[str]:
    return Counter(TransferInstance.objects.filter(transfer_id=transfer_id).values_list("outcome", flat=True))


def test_after_an_abort_at_50_of_200_the_next_attempt_sends_exactly_the_other_150(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "src", 200, patient_name="RESUME^TEST")
    session = import_files(user, series.files)
    with fault_scp("ABORTS", abort_after=50, abort_limit=1) as peer:
        target = destination("aborts", "ABORTS", peer.port)
        workers(1, TRANSFER_RETRY_BACKOFF="0.2")
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (log,) = wait_for([log_id], {"success", "failed"}, timeout=120)
        arrivals = Counter(sop for sop, _ in peer.arrivals)
        associations = peer.associations
    assert log.status == "success", log.error_message
    assert set(arrivals) == set(series.sop_instance_uids)
    assert max(arrivals.values()) == 1  # no instance was sent twice
    assert associations == 2
    assert (log.attempt, log.instances_sent, log.instances_failed, log.instances_already_delivered) == (2, 200, 0, 50)
    assert [a["outcome"] for a in log.details["attempts"]] == ["aborted", "success"]
    assert [a["acknowledged"] for a in log.details["attempts"]] == [50, 150]
    assert _ledger(log_id) == {"acknowledged": 200}


def test_a_retry_sends_only_what_the_failed_transfer_did_not_deliver(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "src", 60, patient_name="RETRY^TEST")
    session = import_files(user, series.files)
    with fault_scp("ABORTS", abort_after=20, abort_limit=1) as peer:
        target = destination("aborts", "ABORTS", peer.port)
        workers(1, TRANSFER_RETRY_FOR="0.5")  # no second attempt: the transfer fails
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (failed,) = wait_for([log_id], {"success", "failed"}, timeout=60)
        assert (failed.status, failed.instances_sent) == ("failed", 20)
        response = client_user.post(f"/api/dicom/transfers/{log_id}/retry/")
        assert response.status_code == 202
        (created,) = response.json()["transfers"]
        assert created["instances_already_delivered"] == 20
        (retried,) = wait_for([created["id"]], {"success", "failed"}, timeout=60)
        arrivals = Counter(sop for sop, _ in peer.arrivals)
    assert retried.status == "success", retried.error_message
    assert set(arrivals) == set(series.sop_instance_uids)
    assert max(arrivals.values()) == 1
    assert [a["acknowledged"] for a in retried.details["attempts"]] == [40]
    assert _ledger(retried.pk) == {"acknowledged": 60}
    status = client_user.get(f"/api/dicom/status/?ids={retried.pk}").json()["transfers"][0]
    assert (status["instances_sent"], status["instances_already_delivered"], status["progress"]) == (60, 20, 100)


def test_a_damaged_instance_among_20_fails_alone_at_once_naming_it_and_dcmtks_reason(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "src", 20, patient_name="DAMAGED^TEST")
    session = import_files(user, series.files)
    # The stored copy of the 8th instance is damaged on the server's disk after the import.
    (stored,) = [
        session.directory / path
        for path, sop in session.instances.values_list("relative_path", "sop_instance_uid")
        if sop == series.sop_instance_uids[7]
    ]
    damage(stored)
    with fault_scp("ANYTHING") as peer:
        target = destination("pynetdicom", "ANYTHING", peer.port)
        workers(1)
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (log,) = wait_for([log_id], {"success", "failed"}, timeout=60)
        received = set(peer.received)
    assert received == set(series.sop_instance_uids) - {series.sop_instance_uids[7]}
    assert (log.status, log.attempt, log.instances_sent, log.instances_failed) == ("failed", 1, 19, 1)
    assert series.sop_instance_uids[7] in log.error_message
    assert "Invalid stream" in log.error_message
    assert "1 of 20 instances could not be sent" in log.error_message
    answer = client_user.get(f"/api/dicom/transfers/{log_id}/instances/?outcome=unsendable").json()
    assert answer["count"] == 1
    (entry,) = answer["results"]
    assert entry["sop_instance_uid"] == series.sop_instance_uids[7]
    assert entry["dimse_status"] is None
    assert "Invalid stream" in entry["reason"]
    assert _ledger(log_id) == {"acknowledged": 19, "unsendable": 1}
