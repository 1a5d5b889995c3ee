"""The Django admin shows the audit trail and imports read-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.utils import timezone

from dicom_api.models import ImportSession, Status, TransferLog
from dicom_api.tests.logs_helpers import make_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(admin_user: AbstractUser) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_admin_lists_and_shows_entries_but_cannot_add_change_or_delete(
    admin_browser: Client, user: AbstractUser
) -> None:
    entry = make_entry(user, status=Status.FAILED, patient_id="P1")
    base = "/admin/dicom_api/transferlog/"
    listing = admin_browser.get(base)
    assert listing.status_code == 200
    assert f"{base}{entry.pk}/change/" in listing.content.decode()
    assert "Add transfer log" not in listing.content.decode()
    assert admin_browser.get(f"{base}{entry.pk}/change/").status_code == 200
    assert admin_browser.get(f"{base}add/").status_code == 403
    assert admin_browser.post(f"{base}{entry.pk}/change/", {"status": "success"}).status_code == 403
    assert admin_browser.post(f"{base}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin_browser.post(base, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    entry.refresh_from_db()
    assert entry.status == Status.FAILED
    assert TransferLog.objects.count() == 1


def test_the_admin_shows_imports_read_only(admin_browser: Client, user: AbstractUser) -> None:
    session = ImportSession.objects.create(owner=user, expires_at=timezone.now() + timedelta(hours=1))
    base = "/admin/dicom_api/importsession/"
    assert admin_browser.get(base).status_code == 200
    assert admin_browser.get(f"{base}{session.pk}/change/").status_code == 200
    assert admin_browser.get(f"{base}add/").status_code == 403
    assert admin_browser.post(f"{base}{session.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ImportSession.objects.filter(pk=session.pk).exists()
