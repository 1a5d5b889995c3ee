"""Verification by C-FIND at IMAGE level after a send, against a real Orthanc (which answers
C-FIND) and DCMTK's storescp (which does not), with real workers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.tests import test_transfers_worker as worker_tests
from dicom_api.tests.test_transfers_worker import destination, send, wait_for
from testsupport.dicom_data import generate_series, import_files
from testsupport.peers import orthanc, storescp
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

workers = worker_tests.workers


def _verification(client: APIClient, transfer_id: int, states: set[str], timeout: float = 30) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        (transfer,) = client.get(f"/api/dicom/status/?ids={transfer_id}").json()["transfers"]
        verification = transfer["verification"]
        if verification is not None and verification["state"] in states:
            return dict(verification)
        if time.monotonic() > deadline:
            raise AssertionError(f"verification still {verification}")
        time.sleep(0.1)


def test_orthanc_holds_every_instance_then_the_one_deleted_is_named(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "src", 6, patient_name="VERIFY^TEST")
    session = import_files(user, series.files)
    with orthanc(tmp_path / "orthanc") as pacs:
        target = destination("orthanc", pacs.ae_title, pacs.dicom_port)
        target.verify = "c-find"
        target.save()
        workers(1)
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (log,) = wait_for([log_id], {"success", "failed"})
        assert log.status == "success", log.error_message
        verified = _verification(client_user, log_id, {"verified", "incomplete", "unsupported"})
        assert verified == {"state": "verified", "held": 6, "missing": [], "message": "6 of 6 held."}

        pacs.delete_instance(series.sop_instance_uids[3])
        response = client_user.post(f"/api/dicom/transfers/{log_id}/verify/")
        assert response.status_code == 202
        assert response.json()["verification"]["state"] == "pending"
        again = _verification(client_user, log_id, {"verified", "incomplete", "unsupported"})
    assert again["state"] == "incomplete"
    assert again["held"] == 5
    assert again["missing"] == [series.sop_instance_uids[3]]
    assert again["message"] == "5 of 6 held; 1 not held by the destination."


def test_storescp_does_not_answer_c_find_and_the_transfer_stays_a_success(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "src", 3, patient_name="VERIFY^TEST")
    session = import_files(user, series.files)
    with storescp(tmp_path / "rx") as scp:
        target = destination("storescp", scp.ae_title, scp.port)
        target.verify = "c-find"
        target.save()
        workers(1)
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (log,) = wait_for([log_id], {"success", "failed"})
        verification = _verification(client_user, log_id, {"verified", "incomplete", "unsupported"})
    assert log.status == "success"
    assert verification["state"] == "unsupported"
    assert "does not answer C-FIND" in verification["message"]


@pytest.mark.django_db
def test_only_a_successful_transfer_can_be_verified(client_user: APIClient, user: User) -> None:
    from dicom_api.models import Status
    from dicom_api.tests.transfers_helpers import make_transfer

    log = make_transfer(user, Status.FAILED)
    response = client_user.post(f"/api/dicom/transfers/{log.pk}/verify/")
    assert response.status_code == 409
    assert "successful" in response.json()["detail"]
