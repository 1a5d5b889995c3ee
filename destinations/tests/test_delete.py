from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.audit import audit_record
from dicom_api.models import Action, Status, TransferLog

pytestmark = pytest.mark.django_db


def url(destination_id: int) -> str:
    return f"/api/destinations/{destination_id}/"


def test_an_admin_deletes_a_destination(client_admin: APIClient, destination: Destination) -> None:
    response = client_admin.delete(url(destination.pk))
    assert response.status_code == 204
    assert not Destination.objects.filter(pk=destination.pk).exists()


def test_deleting_keeps_every_audit_entry_naming_it_unchanged(
    client_admin: APIClient, destination: Destination, user: AbstractUser
) -> None:
    tested = audit_record(
        action=Action.TEST_CONNECTION, status=Status.FAILED, user=user, destination=destination, error_message="refused"
    )
    sent = audit_record(
        action=Action.SEND,
        status=Status.SUCCESS,
        user=user,
        destination=destination,
        series_instance_uid="1.2.3",
        instance_count=3,
        details={"attempts": [1]},
    )
    before = {entry.pk: entry for entry in TransferLog.objects.all()}

    assert client_admin.delete(url(destination.pk)).status_code == 204

    # ... and the deletion is one more entry (destinations/tests/test_audit.py).
    assert TransferLog.objects.exclude(action=Action.DESTINATION_DELETE).count() == 2
    assert TransferLog.objects.filter(action=Action.DESTINATION_DELETE).count() == 1
    for entry in (tested, sent):
        entry.refresh_from_db()
        old = before[entry.pk]
        assert entry.destination_id is None
        assert (entry.destination_name, entry.destination_ae_title, entry.destination_host, entry.destination_port) == (
            "PACS",
            "PACS",
            "10.0.0.5",
            104,
        )
        for field in ("action", "status", "user_id", "timestamp", "error_message", "details", "instance_count"):
            assert getattr(entry, field) == getattr(old, field)


def test_a_user_may_not_delete(
    client_user: APIClient, destination: Destination, disabled_destination: Destination
) -> None:
    assert client_user.delete(url(destination.pk)).status_code == 403
    assert client_user.delete(url(disabled_destination.pk)).status_code == 403
    assert Destination.objects.count() == 2


def test_it_needs_a_token(anon_client: APIClient, destination: Destination) -> None:
    assert anon_client.delete(url(destination.pk)).status_code == 401
    assert Destination.objects.filter(pk=destination.pk).exists()


def test_an_unknown_destination_is_404(client_admin: APIClient, db: None) -> None:
    assert client_admin.delete(url(999999)).status_code == 404
