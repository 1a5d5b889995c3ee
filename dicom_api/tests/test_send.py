"""POST /api/dicom/send/: validation and permissions (no worker runs here)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Action, ImportSession, Status, TransferLog
from dicom_api.tests.transfers_helpers import send
from testsupport.dicom_data import GeneratedSeries

pytestmark = pytest.mark.django_db


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
