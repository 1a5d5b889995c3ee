"""GET /api/dicom/imports/: the caller's imports, newest first, with their summary; admins filter by user."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from dicom_api.models import Action, ImportSession, Status, TransferLog
from testsupport.dicom_data import instance, series, upload

pytestmark = pytest.mark.django_db
URL = "/api/dicom/imports/"


def import_of(client: APIClient, *files: Any) -> str:
    response = client.post("/api/dicom/import/", {"files": list(files)}, format="multipart")
    assert response.status_code == 201, response.content
    return str(response.json()["import_id"])


def test_it_lists_own_imports_newest_first_with_their_summary(
    client_user: APIClient, client_other: APIClient, user: AbstractUser
) -> None:
    study = series(3)
    # Made once: each call has new UIDs, whose lengths vary.
    other = instance(patient_id="P-2", patient_name="Roe^Rick", study_instance_uid="1.2.9")
    first = import_of(client_user, *(upload(n, b) for n, b in study.files.items()), upload("other.dcm", other))
    import_of(client_other, upload("b.dcm", instance()))
    opened = client_user.post(URL).json()["import_id"]
    ImportSession.objects.filter(pk=opened).update(
        created_at=ImportSession.objects.get(pk=first).created_at + datetime.timedelta(seconds=1)
    )
    TransferLog.objects.create(action=Action.SEND, status=Status.SUCCESS, user=user, import_session_id=first)
    TransferLog.objects.create(action=Action.SEND, status=Status.FAILED, user=user, import_session_id=first)

    response = client_user.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["next"] is None
    newest, older = body["results"]
    assert newest["import_id"] == opened and newest["state"] == "open"
    assert (newest["instance_count"], newest["patient_count"], newest["transfer_count"]) == (0, 0, 0)
    assert older["import_id"] == first
    assert older["state"] == "complete"
    assert older["received_files"] == older["instance_count"] == 4
    assert (older["patient_count"], older["study_count"], older["series_count"]) == (2, 2, 2)
    assert older["transfer_count"] == 2
    assert older["size_bytes"] == sum(len(b) for b in study.files.values()) + len(other)
    for key in ("created_at", "expires_at", "received_bytes"):
        assert key in older


def test_another_users_imports_are_never_listed(client_user: APIClient, client_other: APIClient) -> None:
    import_of(client_other, upload("b.dcm", instance()))
    assert client_user.get(URL).json()["results"] == []
    refused = client_user.get(URL, {"user": "bob"})
    assert refused.status_code == 403
    assert "administrators" in refused.json()["detail"]
    assert client_user.get(URL, {"user": "alice"}).json()["results"] == []


def test_admins_list_their_own_and_filter_by_user(
    client_admin: APIClient, client_user: APIClient, client_other: APIClient
) -> None:
    mine = import_of(client_user, upload("a.dcm", instance()))
    import_of(client_other, upload("b.dcm", instance()))
    assert client_admin.get(URL).json()["results"] == []
    alice = client_admin.get(URL, {"user": "alice"}).json()["results"]
    assert [(r["import_id"], r["owner"]) for r in alice] == [(mine, "alice")]
    assert client_admin.get(URL, {"user": "nobody"}).json()["results"] == []
    # Listing is not reading: another user's import itself stays theirs.
    assert client_admin.get(f"{URL}{mine}/").status_code == 404


def test_it_pages_like_the_audit_log(client_user: APIClient) -> None:
    for _ in range(3):
        client_user.post(URL)
    page = client_user.get(URL, {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert len(client_user.get(URL, {"page_size": 2, "page": 2}).json()["results"]) == 1


def test_it_needs_a_signed_in_user() -> None:
    assert APIClient().get(URL).status_code == 401
