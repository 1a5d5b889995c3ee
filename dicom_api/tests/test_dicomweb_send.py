"""DICOMweb destinations end to end: real ``db_worker`` processes send by STOW-RS to a real Orthanc
with its DICOMweb plugin (Debian ``orthanc-dicomweb``) and HTTP basic authentication on, and the
tests assert on what Orthanc holds, by SOP Instance UID and transfer syntax."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import TransferLog
from dicom_api.tests import test_transfers_worker as worker_tests
from dicom_api.tests.test_transfers_worker import send, wait_for
from testsupport.dicom_data import generate_series, import_files
from testsupport.peers import DICOMWEB_PLUGIN, Orthanc, orthanc
from testsupport.stow_server import stow_server
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

workers = worker_tests.workers
USER = "stow"
JPEG_2000 = "1.2.840.10008.1.2.4.91"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def require_plugin() -> None:
    """Loud skip where Orthanc's DICOMweb plugin is missing; a failure in CI."""
    if not DICOMWEB_PLUGIN.exists():
        message = f"{DICOMWEB_PLUGIN} is missing: apt-get install orthanc-dicomweb (`make setup-dev` does)."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def web_destination(pacs: Orthanc, password: str, name: str = "cloud", **fields: object) -> Destination:
    host, port = "127.0.0.1", pacs.http_port
    return Destination.objects.create(
        name=name,
        kind="dicomweb",
        url=pacs.dicomweb_url,
        ae_title="",
        host=host,
        port=port,
        auth_type="basic",
        auth_username=USER,
        auth_secret=password,
        **fields,
    )


def test_two_series_arrive_complete_compressed_ones_in_their_own_syntax_and_are_verified(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    require_plugin()
    plain = generate_series(tmp_path / "a", 7, patient_name=worker_tests.PATIENT_NAMES[0])
    compressed = generate_series(
        tmp_path / "b", 3, template="JPEG2000.dcm", study_instance_uid=plain.study_instance_uid, modality="MR"
    )
    session = import_files(user, plain.files + compressed.files)
    password = secrets.token_urlsafe(12)
    with orthanc(tmp_path / "orthanc", dicomweb=True, users={USER: password}) as pacs:
        target = web_destination(pacs, password, verify="qido-rs")
        workers(1, DICOMWEB_BATCH_INSTANCES="3")
        ids = send(client_user, session, [plain.series_instance_uid, compressed.series_instance_uid], [target])
        logs = wait_for(ids, {"success", "failed"})
        received = pacs.received()
        for log_id in ids:
            deadline = time.monotonic() + 30
            while (TransferLog.objects.get(pk=log_id).verification or {}).get("state") in (None, "pending"):
                assert time.monotonic() < deadline, "not verified in time"
                time.sleep(0.1)
    assert [(log.status, log.instances_sent, log.instances_failed, log.attempt) for log in logs] == [
        ("success", 7, 0, 1),
        ("success", 3, 0, 1),
    ], [log.error_message for log in logs]
    assert received == {
        **{uid: EXPLICIT_LE for uid in plain.sop_instance_uids},
        **{uid: JPEG_2000 for uid in compressed.sop_instance_uids},
    }
    assert [TransferLog.objects.get(pk=i).verification["message"] for i in ids] == ["7 of 7 held.", "3 of 3 held."]
    ledger = client_user.get(f"/api/dicom/transfers/{ids[0]}/instances/").json()["results"]
    assert [row["sop_instance_uid"] for row in ledger] == plain.sop_instance_uids
    assert {row["outcome"] for row in ledger} == {"acknowledged"}
    attempt = logs[0].details["attempts"][0]
    assert attempt["destination"]["url"] == pacs.dicomweb_url
    assert attempt["acknowledged"] == 7


def test_a_wrong_password_fails_at_once_saying_so_and_is_not_retried(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    require_plugin()
    series = generate_series(tmp_path / "a", 4)
    session = import_files(user, series.files)
    with orthanc(tmp_path / "orthanc", dicomweb=True, users={USER: "the-right-one"}) as pacs:
        target = web_destination(pacs, "a-wrong-one")
        workers(1)
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (log,) = wait_for([log_id], {"success", "failed"})
        time.sleep(1.5)  # a requeue (backoff 0.5 s in the tests) would have tried again by now
        log.refresh_from_db()
        received = pacs.received()
    assert log.status == "failed"
    assert log.attempt == 1
    assert log.error_message.startswith("The server refused our credentials (401)"), log.error_message
    assert "0 of 4 instances were acknowledged" in log.error_message
    assert [a["outcome"] for a in log.details["attempts"]] == ["http_refused"]
    assert received == {}
    (transfer,) = client_user.get(f"/api/dicom/status/?ids={log_id}").json()["transfers"]
    assert transfer["next_attempt_at"] is None


def test_orthanc_stopped_mid_transfer_then_started_again_the_transfer_resumes_without_duplicates(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    require_plugin()
    count = 500
    series = generate_series(tmp_path / "a", count)
    session = import_files(user, series.files)
    password = secrets.token_urlsafe(12)
    with orthanc(tmp_path / "orthanc", dicomweb=True, users={USER: password}) as pacs:
        target = web_destination(pacs, password)
        # One instance a request: the send takes long enough to be stopped in the middle.
        workers(1, DICOMWEB_BATCH_INSTANCES="1")
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        deadline = time.monotonic() + 60
        while TransferLog.objects.get(pk=log_id).instances_sent < 20:
            assert time.monotonic() < deadline, "the send did not start"
            time.sleep(0.02)
        pacs.stop(kill=True)
        stopped_at = TransferLog.objects.get(pk=log_id).instances_sent
        time.sleep(2)
        pacs.start()  # same configuration, port and storage
        (log,) = wait_for([log_id], {"success", "failed"}, timeout=120)
        received = pacs.received()
    assert stopped_at < count, "Orthanc was stopped after the send had finished: nothing tested"
    assert log.status == "success", log.error_message
    assert set(received) == set(series.sop_instance_uids)
    assert len(pacs_instances := list(received)) == count == len(set(pacs_instances))
    attempts = log.details["attempts"]
    assert len(attempts) >= 2
    assert attempts[0]["outcome"] in ("connection_refused", "aborted"), attempts[0]
    # Every instance was acknowledged once over all attempts: the later ones sent only the rest.
    assert sum(a["acknowledged"] for a in attempts) == count
    assert log.instances_sent == count


def test_a_server_asking_to_slow_down_is_tried_again_after_its_retry_after(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "a", 2)
    session = import_files(user, series.files)
    with stow_server(lambda parts: (429, {"Retry-After": "30"}, None)) as server:
        target = Destination.objects.create(
            name="busy", kind="dicomweb", url=server.url, ae_title="", host="127.0.0.1", port=server.port
        )
        workers(1)
        (log_id,) = send(client_user, session, [series.series_instance_uid], [target])
        deadline = time.monotonic() + 30
        while not (log := TransferLog.objects.get(pk=log_id)).details.get("attempts"):
            assert time.monotonic() < deadline, "no attempt"
            time.sleep(0.1)
        (transfer,) = client_user.get(f"/api/dicom/status/?ids={log_id}").json()["transfers"]
    assert (log.status, log.attempt, len(server.requests)) == ("pending", 1, 1)
    assert log.error_message.startswith("The server asks us to slow down (429).")
    assert "trying again in 30 s" in log.error_message
    waits = datetime.fromisoformat(transfer["next_attempt_at"]) - datetime.fromisoformat(
        log.details["attempts"][0]["finished_at"]
    )
    assert 25 <= waits.total_seconds() <= 35  # the server's 30 s, not the tests' 0.5 s backoff
