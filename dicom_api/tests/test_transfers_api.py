"""The transfer endpoints' validation and permissions (no worker runs here)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Action, ImportSession, Status, TransferLog
from testsupport.dicom_data import GeneratedSeries, generate_series, import_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def series(tmp_path: Path) -> GeneratedSeries:
    return generate_series(tmp_path / "src", 3, patient_name="TEST^API")


@pytest.fixture
def imported(user: User, series: GeneratedSeries) -> ImportSession:
    return import_files(user, series.files)


@pytest.fixture
def destination(admin_user: User) -> Destination:
    return Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=11112)


def send(client: APIClient, **body: Any) -> Any:
    return client.post("/api/dicom/send/", body, format="json")


def test_send_creates_one_pending_transfer_per_series_and_destination(
    client_user: APIClient,
    user: User,
    imported: ImportSession,
    series: GeneratedSeries,
    destination: Destination,
    django_capture_on_commit_callbacks: Any,
) -> None:
    second = Destination.objects.create(name="Backup", ae_title="BACKUP", host="localhost", port=104)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(
            client_user,
            import_id=str(imported.pk),
            series_instance_uids=[series.series_instance_uid],
            destination_ids=[destination.pk, second.pk],
        )
    assert response.status_code == 202
    transfers = response.json()["transfers"]
    assert [(t["destination"]["name"], t["status"], t["instance_count"]) for t in transfers] == [
        ("PACS", "pending", 3),
        ("Backup", "pending", 3),
    ]
    logs = TransferLog.objects.filter(action=Action.SEND).order_by("id")
    assert [log.pk for log in logs] == [t["id"] for t in transfers]
    first = logs[0]
    assert (first.user, first.status, first.patient_name, first.patient_id) == (
        user,
        Status.PENDING,
        "TEST^API",
        series.patient_id,
    )
    assert (first.destination_name, first.destination_ae_title, first.destination_host, first.destination_port) == (
        "PACS",
        "PACS",
        "127.0.0.1",
        11112,
    )
    # One job per transfer, queued for the workers; nothing ran here.
    assert DBTaskResult.objects.count() == 2
    assert set(TransferLog.objects.filter(action=Action.SEND).values_list("status", flat=True)) == {Status.PENDING}


def test_send_needs_authentication(anon_client: APIClient) -> None:
    assert (
        send(anon_client, import_id=str(uuid.uuid4()), series_instance_uids=["1.2"], destination_ids=[1]).status_code
        == 401
    )


def test_send_rejects_another_users_import(
    client_other: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    response = send(
        client_other,
        import_id=str(imported.pk),
        series_instance_uids=[series.series_instance_uid],
        destination_ids=[destination.pk],
    )
    assert response.status_code == 400
    assert "import_id" in response.json()
    assert not TransferLog.objects.filter(action=Action.SEND).exists()


def test_send_rejects_a_series_not_in_the_import(
    client_user: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    response = send(
        client_user,
        import_id=str(imported.pk),
        series_instance_uids=[series.series_instance_uid, "1.2.3.4"],
        destination_ids=[destination.pk],
    )
    assert response.status_code == 400
    assert "1.2.3.4" in response.json()["series_instance_uids"][0]
    assert not TransferLog.objects.filter(action=Action.SEND).exists()


def test_send_rejects_unknown_and_disabled_destinations(
    client_user: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    body = {"import_id": str(imported.pk), "series_instance_uids": [series.series_instance_uid]}
    response = send(client_user, **body, destination_ids=[destination.pk, 999999])
    assert response.status_code == 400
    assert "999999" in response.json()["destination_ids"][0]
    destination.enabled = False
    destination.save()
    response = send(client_user, **body, destination_ids=[destination.pk])
    assert response.status_code == 400
    assert "disabled" in response.json()["destination_ids"][0]
    assert not TransferLog.objects.filter(action=Action.SEND).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"series_instance_uids": ["1.2"], "destination_ids": [1]}, "import_id"),
        ({"import_id": "nope", "series_instance_uids": ["1.2"], "destination_ids": [1]}, "import_id"),
        ({"import_id": str(uuid.uuid4()), "series_instance_uids": [], "destination_ids": [1]}, "series_instance_uids"),
        (
            {"import_id": str(uuid.uuid4()), "series_instance_uids": ["1.2"], "destination_ids": ["x"]},
            "destination_ids",
        ),
        (
            {"import_id": str(uuid.uuid4()), "series_instance_uids": "1.2", "destination_ids": [1]},
            "series_instance_uids",
        ),
    ],
)
def test_send_rejects_malformed_bodies(client_user: APIClient, body: dict[str, Any], field: str) -> None:
    response = client_user.post("/api/dicom/send/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def make_transfer(owner: User, status: Status = Status.PENDING, **fields: Any) -> TransferLog:
    return TransferLog.objects.create(
        user=owner,
        username=owner.username,
        action=Action.SEND,
        status=status,
        series_instance_uid="1.2.3",
        instance_count=10,
        **fields,
    )


def test_status_lists_the_callers_active_and_recent_transfers(
    client_user: APIClient, user: User, other_user: User
) -> None:
    active = make_transfer(user, Status.SENDING, instances_sent=4, instances_failed=1, attempt=1)
    recent = make_transfer(user, Status.SUCCESS, completed_at=timezone.now(), instances_sent=10)
    make_transfer(user, Status.FAILED, completed_at=timezone.now() - timezone.timedelta(hours=2))
    make_transfer(other_user, Status.SENDING)
    response = client_user.get("/api/dicom/status/")
    assert response.status_code == 200
    transfers = response.json()["transfers"]
    assert [t["id"] for t in transfers] == [active.pk, recent.pk]
    assert transfers[0] | {"timestamp": None} == transfers[0] | {
        "id": active.pk,
        "status": "sending",
        "instance_count": 10,
        "instances_sent": 4,
        "instances_failed": 1,
        "progress": 50,
        "attempt": 1,
        "error_message": "",
        "completed_at": None,
        "timestamp": None,
    }
    assert transfers[1]["progress"] == 100


def test_status_by_ids(client_user: APIClient, user: User) -> None:
    old = make_transfer(user, Status.FAILED, completed_at=timezone.now() - timezone.timedelta(days=2))
    response = client_user.get(f"/api/dicom/status/?ids={old.pk}")
    assert response.status_code == 200
    assert [t["status"] for t in response.json()["transfers"]] == ["failed"]


def test_status_rejects_malformed_ids(client_user: APIClient) -> None:
    response = client_user.get("/api/dicom/status/?ids=1,abc")
    assert response.status_code == 400
    assert "ids" in response.json()


def test_another_users_transfer_is_404_for_status_cancel_and_retry(
    client_other: APIClient, user: User, other_user: User
) -> None:
    mine = make_transfer(user, Status.SENDING)
    failed = make_transfer(user, Status.FAILED)
    assert client_other.get(f"/api/dicom/status/?ids={mine.pk}").status_code == 404
    assert client_other.post(f"/api/dicom/transfers/{mine.pk}/cancel/").status_code == 404
    assert client_other.post(f"/api/dicom/transfers/{failed.pk}/retry/").status_code == 404
    mine.refresh_from_db()
    assert mine.status == Status.SENDING
    assert TransferLog.objects.filter(action=Action.SEND).count() == 2


def test_admins_get_404_for_other_users_transfers_too(client_admin: APIClient, user: User) -> None:
    mine = make_transfer(user, Status.SENDING)
    assert client_admin.post(f"/api/dicom/transfers/{mine.pk}/cancel/").status_code == 404


def test_cancel_a_pending_transfer(client_user: APIClient, user: User) -> None:
    log = make_transfer(user, Status.PENDING)
    response = client_user.post(f"/api/dicom/transfers/{log.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    log.refresh_from_db()
    assert log.status == Status.CANCELLED
    assert log.completed_at is not None


def test_cancel_a_finished_transfer_is_409(client_user: APIClient, user: User) -> None:
    log = make_transfer(user, Status.SUCCESS, completed_at=timezone.now())
    response = client_user.post(f"/api/dicom/transfers/{log.pk}/cancel/")
    assert response.status_code == 409
    assert "finished" in response.json()["detail"]
    log.refresh_from_db()
    assert log.status == Status.SUCCESS


def test_retry_creates_a_new_transfer_for_the_same_series_and_destination(
    client_user: APIClient,
    user: User,
    imported: ImportSession,
    series: GeneratedSeries,
    destination: Destination,
) -> None:
    failed = make_transfer(
        user,
        Status.FAILED,
        import_session=imported,
        destination=destination,
        destination_name=destination.name,
    )
    failed.series_instance_uid = series.series_instance_uid
    failed.save()
    response = client_user.post(f"/api/dicom/transfers/{failed.pk}/retry/")
    assert response.status_code == 202
    (new,) = response.json()["transfers"]
    assert new["id"] != failed.pk
    assert (new["status"], new["series_instance_uid"], new["destination"]["id"], new["instance_count"]) == (
        "pending",
        series.series_instance_uid,
        destination.pk,
        3,
    )
    assert TransferLog.objects.get(pk=new["id"]).details["retry_of"] == failed.pk
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


def test_retry_of_a_running_transfer_is_409(client_user: APIClient, user: User) -> None:
    log = make_transfer(user, Status.SENDING)
    assert client_user.post(f"/api/dicom/transfers/{log.pk}/retry/").status_code == 409


def test_retry_after_the_import_expired_is_409(client_user: APIClient, user: User, destination: Destination) -> None:
    log = make_transfer(user, Status.FAILED, destination=destination)
    response = client_user.post(f"/api/dicom/transfers/{log.pk}/retry/")
    assert response.status_code == 409
    assert "import" in response.json()["detail"]


def test_housekeeping_requeues_a_pending_transfer_whose_job_was_lost(user: User) -> None:
    from datetime import timedelta

    from dicom_api.services.transfers import transfer_requeue_lost

    lost = make_transfer(user, Status.PENDING)
    queued = make_transfer(user, Status.PENDING)
    fresh = make_transfer(user, Status.PENDING)
    TransferLog.objects.filter(pk__in=[lost.pk, queued.pk]).update(timestamp=timezone.now() - timedelta(minutes=5))
    from dicom_api.tasks import send_transfer

    send_transfer.enqueue(queued.pk)
    assert transfer_requeue_lost() == 1
    queued_ids = sorted(r["args"][0] for r in DBTaskResult.objects.values_list("args_kwargs", flat=True))
    assert queued_ids == sorted([lost.pk, queued.pk])
    assert fresh.pk not in queued_ids
    assert transfer_requeue_lost() == 0


def test_housekeeping_fails_a_stale_transfer_after_the_last_attempt(user: User, settings: Any) -> None:
    from datetime import timedelta

    from dicom_api.services.transfers import transfer_recover_stale

    settings.TRANSFER_MAX_ATTEMPTS = 2
    old = timezone.now() - timedelta(seconds=settings.TRANSFER_STALE_AFTER + 5)
    retried = make_transfer(user, Status.SENDING, attempt=1, heartbeat_at=old, worker_id="w:1")
    exhausted = make_transfer(user, Status.SENDING, attempt=2, heartbeat_at=old, worker_id="w:2")
    alive = make_transfer(user, Status.SENDING, attempt=1, heartbeat_at=timezone.now(), worker_id="w:3")
    assert transfer_recover_stale() == 2
    retried.refresh_from_db()
    exhausted.refresh_from_db()
    alive.refresh_from_db()
    assert (retried.status, exhausted.status, alive.status) == ("pending", "failed", "sending")
    assert "stopped responding" in exhausted.error_message
    assert exhausted.completed_at is not None
    assert retried.details["attempts"][-1]["outcome"] == "worker_lost"


def test_retry_twice_makes_one_new_transfer(
    client_user: APIClient, user: User, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    failed = make_transfer(user, Status.FAILED, import_session=imported, destination=destination)
    failed.series_instance_uid = series.series_instance_uid
    failed.save()
    first = client_user.post(f"/api/dicom/transfers/{failed.pk}/retry/")
    assert first.status_code == 202
    second = client_user.post(f"/api/dicom/transfers/{failed.pk}/retry/")
    assert second.status_code == 409
    assert "already retried" in second.json()["detail"]
    assert TransferLog.objects.filter(action=Action.SEND).count() == 2


def test_retry_to_a_destination_disabled_since_is_409(
    client_user: APIClient, user: User, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    failed = make_transfer(user, Status.FAILED, import_session=imported, destination=destination)
    failed.series_instance_uid = series.series_instance_uid
    failed.save()
    destination.enabled = False
    destination.save()
    response = client_user.post(f"/api/dicom/transfers/{failed.pk}/retry/")
    assert response.status_code == 409
    assert "disabled" in response.json()["detail"]


def test_housekeeping_fails_the_job_of_a_dead_worker_and_requeues_its_transfer(user: User) -> None:
    from datetime import timedelta

    from dicom_api.services.transfers import transfer_requeue_lost
    from dicom_api.tasks import send_transfer

    log = make_transfer(user, Status.PENDING)
    TransferLog.objects.filter(pk=log.pk).update(timestamp=timezone.now() - timedelta(minutes=5))
    result = send_transfer.enqueue(log.pk)
    DBTaskResult.objects.filter(id=result.id).update(
        status="RUNNING", worker_ids=["dead-worker"], started_at=timezone.now() - timedelta(minutes=5)
    )
    assert transfer_requeue_lost() == 1
    assert DBTaskResult.objects.get(id=result.id).status == "FAILED"
    assert DBTaskResult.objects.filter(status="READY").count() == 1


def test_housekeeping_removes_abandoned_upload_files(settings: Any, tmp_path: Path) -> None:
    import os
    import time

    from dicom_api.services.import_sweeps import upload_temp_sweep

    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    old, fresh = folder / "old.upload", folder / "fresh.upload"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (time.time() - 13 * 3600,) * 2)
    assert upload_temp_sweep() == 1
    assert (old.exists(), fresh.exists()) == (False, True)


def test_a_send_that_completed_as_the_user_cancelled_says_so(user: User) -> None:
    from dicom_api.dcmtk.dcmsend import SendReport
    from dicom_api.services.transfers import _record_outcome

    log = make_transfer(user, Status.SENDING, attempt=1, worker_id="w:1:abc")
    TransferLog.objects.filter(pk=log.pk).update(status=Status.CANCELLED, error_message="Cancelled by the user.")
    _record_outcome(log, SendReport(total=10, acknowledged=10), "w:1:abc")
    log.refresh_from_db()
    assert (log.status, log.instances_sent) == ("cancelled", 10)
    assert "all 10 instances had already been stored" in log.error_message
    assert log.details["attempts"][-1]["outcome"] == "success"


def test_progress_counts_stored_instances_once_a_transfer_is_not_sending(client_user: APIClient, user: User) -> None:
    never_connected = make_transfer(user, Status.FAILED, instances_sent=0, instances_failed=10)
    half = make_transfer(user, Status.FAILED, instances_sent=5, instances_failed=5)
    waiting = make_transfer(user, Status.PENDING, attempt=1, instances_sent=0, instances_failed=0)
    ids = ",".join(str(log.pk) for log in (never_connected, half, waiting))
    transfers = client_user.get(f"/api/dicom/status/?ids={ids}").json()["transfers"]
    assert [t["progress"] for t in transfers] == [0, 50, 0]
    assert transfers[0]["patient_name"] == ""


def test_housekeeping_prunes_only_old_finished_jobs(user: User) -> None:
    from datetime import timedelta

    from dicom_api.services.transfers import task_results_prune
    from dicom_api.tasks import send_transfer

    old, recent, waiting = (send_transfer.enqueue(1), send_transfer.enqueue(2), send_transfer.enqueue(3))
    DBTaskResult.objects.filter(id=old.id).update(status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=8))
    DBTaskResult.objects.filter(id=recent.id).update(status="FAILED", finished_at=timezone.now())
    assert task_results_prune() == 1
    assert {str(pk) for pk in DBTaskResult.objects.values_list("id", flat=True)} == {recent.id, waiting.id}
