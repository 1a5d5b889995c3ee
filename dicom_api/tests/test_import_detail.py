"""GET and DELETE /api/dicom/imports/{id}/."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from dicom_api.models import Action, DicomInstance, ImportSession, Status, TransferLog
from testsupport.dicom_data import series, upload

pytestmark = pytest.mark.django_db


def create(client: APIClient) -> dict[str, Any]:
    response = client.post(
        "/api/dicom/import/", {"files": [upload(n, b) for n, b in series(2).files.items()]}, format="multipart"
    )
    assert response.status_code == 201
    return dict(response.json())


def url(import_id: Any) -> str:
    return f"/api/dicom/imports/{import_id}/"


def test_get_answers_the_same_body_again(client_user: APIClient) -> None:
    created = create(client_user)
    response = client_user.get(url(created["import_id"]))
    assert response.status_code == 200
    assert response.json() == created


def test_another_user_and_an_admin_get_404(
    client_user: APIClient, client_other: APIClient, client_admin: APIClient
) -> None:
    created = create(client_user)
    for client in (client_other, client_admin):
        assert client.get(url(created["import_id"])).status_code == 404
        assert client.delete(url(created["import_id"])).status_code == 404
    assert ImportSession.objects.filter(pk=created["import_id"]).exists()
    assert ImportSession.objects.get().directory.is_dir()


def test_unknown_import_is_404_and_anonymous_is_401(client_user: APIClient, anon_client: APIClient) -> None:
    assert client_user.get(url(uuid.uuid4())).status_code == 404
    assert client_user.delete(url(uuid.uuid4())).status_code == 404
    assert client_user.get("/api/dicom/imports/not-a-uuid/").status_code == 404
    assert anon_client.get(url(uuid.uuid4())).status_code == 401


def test_delete_removes_rows_and_files_at_once(client_user: APIClient) -> None:
    created = create(client_user)
    session = ImportSession.objects.get()
    directory = session.directory
    assert directory.is_dir()
    response = client_user.delete(url(created["import_id"]))
    assert response.status_code == 204
    assert not directory.exists()
    assert ImportSession.objects.count() == 0 and DicomInstance.objects.count() == 0
    assert client_user.get(url(created["import_id"])).status_code == 404
    # The audit trail keeps its entry, and says who deleted which patients' instances.
    assert TransferLog.objects.get(action=Action.IMPORT).id == created["log_id"]
    deleted = TransferLog.objects.get(action=Action.IMPORT_DELETE)
    imported = TransferLog.objects.get(action=Action.IMPORT)
    assert (deleted.username, deleted.status, deleted.instance_count) == ("alice", Status.SUCCESS, 2)
    assert (deleted.patient_id, deleted.patient_name) == (imported.patient_id, imported.patient_name)
    assert deleted.details["import_id"] == created["import_id"]
    assert deleted.details["patients"] == [{"patient_id": imported.patient_id, "patient_name": imported.patient_name}]
    assert (deleted.details["series_count"], deleted.details["total_bytes"]) == (1, imported.details["total_bytes"])
    listed = client_user.get("/api/dicom/logs/", {"action": "import_delete"}).json()["results"]
    assert [entry["id"] for entry in listed] == [deleted.pk]


@pytest.mark.parametrize("transfer_status", [Status.PENDING, Status.SENDING])
def test_delete_with_a_transfer_in_flight_answers_409(
    client_user: APIClient, user: AbstractUser, transfer_status: Status
) -> None:
    created = create(client_user)
    session = ImportSession.objects.get()
    TransferLog.objects.create(action=Action.SEND, status=transfer_status, user=user, import_session=session)
    response = client_user.delete(url(created["import_id"]))
    assert response.status_code == 409
    assert "transfer" in response.json()["detail"]
    assert session.directory.is_dir() and DicomInstance.objects.count() == 2
    assert not TransferLog.objects.filter(action=Action.IMPORT_DELETE).exists()  # nothing was deleted
