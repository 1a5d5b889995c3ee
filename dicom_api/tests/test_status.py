"""GET /api/dicom/status/, and who may see a transfer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from dicom_api.models import Action, Status, TransferLog
from dicom_api.tests.transfers_helpers import make_transfer

pytestmark = pytest.mark.django_db


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


def test_progress_counts_stored_instances_once_a_transfer_is_not_sending(client_user: APIClient, user: User) -> None:
    never_connected = make_transfer(user, Status.FAILED, instances_sent=0, instances_failed=10)
    half = make_transfer(user, Status.FAILED, instances_sent=5, instances_failed=5)
    waiting = make_transfer(user, Status.PENDING, attempt=1, instances_sent=0, instances_failed=0)
    ids = ",".join(str(log.pk) for log in (never_connected, half, waiting))
    transfers = client_user.get(f"/api/dicom/status/?ids={ids}").json()["transfers"]
    assert [t["progress"] for t in transfers] == [0, 50, 0]
    assert transfers[0]["patient_name"] == ""
