"""What each role may do across the API: the auditor reads everything and changes nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser

from authentication.models import Account, Role
from conftest import client_for
from destinations.models import Destination
from dicom_api.models import Action, Status, TransferLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor(make_user: Callable[..., AbstractUser]) -> AbstractUser:
    account = make_user("audrey")
    Account.objects.create(user=account, role=Role.AUDITOR)
    return account


@pytest.fixture
def client_auditor(auditor: AbstractUser) -> Any:
    return client_for(auditor)


@pytest.fixture
def pacs(db: None) -> Destination:
    return Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=11112)


def test_an_auditor_reads_every_users_entries_and_exports_them(
    client_auditor: Any, user: AbstractUser, other_user: AbstractUser
) -> None:
    for who in (user, other_user):
        TransferLog.objects.create(user=who, username=who.username, action=Action.SEND, status=Status.SUCCESS)
    response = client_auditor.get("/api/dicom/logs/")
    assert response.status_code == 200
    assert {entry["user"]["username"] for entry in response.json()["results"]} == {"alice", "bob"}
    entry = TransferLog.objects.get(user=other_user)
    assert client_auditor.get(f"/api/dicom/logs/{entry.pk}/").status_code == 200
    exported = client_auditor.get("/api/dicom/logs/?format=csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert {row["username"] for row in rows} == {"alice", "bob"}
    assert client_auditor.get("/api/dicom/logs/?user=bob").json()["count"] == 1


def test_an_operator_still_reads_only_their_own(client_user: Any, user: AbstractUser, other_user: AbstractUser) -> None:
    for who in (user, other_user):
        TransferLog.objects.create(user=who, username=who.username, action=Action.SEND, status=Status.SUCCESS)
    assert {e["user"]["username"] for e in client_user.get("/api/dicom/logs/").json()["results"]} == {"alice"}


def test_an_auditor_cannot_send_import_or_test(client_auditor: Any, pacs: Destination) -> None:
    response = client_auditor.post(
        "/api/dicom/send/",
        {
            "import_id": "e3e70682-c209-4cac-a29f-6fbed82c07cd",
            "series_instance_uids": ["1.2"],
            "destination_ids": [pacs.pk],
        },
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "Auditors can read, not change anything."
    assert client_auditor.post("/api/dicom/import/", {}, format="multipart").status_code == 403
    assert client_auditor.post(f"/api/destinations/{pacs.pk}/test_connection/").status_code == 403
    assert not TransferLog.objects.filter(action__in=[Action.SEND, Action.TEST_CONNECTION, Action.IMPORT]).exists()


def test_an_auditor_cannot_manage_destinations_but_sees_enabled_ones(client_auditor: Any, pacs: Destination) -> None:
    body = {"name": "New", "ae_title": "NEW", "host": "127.0.0.1", "port": 104}
    assert client_auditor.post("/api/destinations/", body, format="json").status_code == 403
    assert client_auditor.patch(f"/api/destinations/{pacs.pk}/", {"enabled": False}, format="json").status_code == 403
    assert client_auditor.delete(f"/api/destinations/{pacs.pk}/").status_code == 403
    assert [d["name"] for d in client_auditor.get("/api/destinations/").json()] == ["PACS"]
    assert Destination.objects.count() == 1


def test_an_auditor_manages_no_users(client_auditor: Any, user: AbstractUser) -> None:
    assert client_auditor.get("/api/auth/users/").status_code == 403
    assert client_auditor.patch(f"/api/auth/users/{user.pk}/", {"role": "admin"}, format="json").status_code == 403


def test_an_auditor_changes_their_own_profile_and_logs_out(client_auditor: Any) -> None:
    response = client_auditor.patch("/api/auth/user/update/", {"first_name": "Audrey"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "auditor"
    assert response.json()["is_staff"] is False
