"""Expired imports are removed by housekeeping, except while a transfer of theirs is in flight."""

from __future__ import annotations

import datetime
import os
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.utils import timezone
from rest_framework.test import APIClient

from dicom_api.models import Action, DicomInstance, ImportSession, Status, TransferLog
from dicom_api.services.housekeeping import run_housekeeping
from dicom_api.services.import_sweeps import import_expire_all
from testsupport.dicom_data import series, upload

pytestmark = pytest.mark.django_db


def create(client: APIClient) -> ImportSession:
    response = client.post(
        "/api/dicom/import/", {"files": [upload(n, b) for n, b in series(2).files.items()]}, format="multipart"
    )
    assert response.status_code == 201
    return ImportSession.objects.get(pk=response.json()["import_id"])


def expire(session: ImportSession) -> None:
    ImportSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))


def test_it_sets_the_expiry_from_import_ttl(client_user: APIClient) -> None:
    session = create(client_user)
    assert abs((session.expires_at - session.created_at).total_seconds() - settings.IMPORT_TTL) < 5


def test_expired_imports_and_their_files_are_removed(client_user: APIClient) -> None:
    old, fresh = create(client_user), create(client_user)
    expire(old)
    run_housekeeping()
    assert not old.directory.exists()
    assert list(ImportSession.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert DicomInstance.objects.filter(import_session_id=old.pk).count() == 0
    assert fresh.directory.is_dir()
    assert import_expire_all() == 0


def test_an_import_with_a_transfer_in_flight_is_kept(client_user: APIClient, user: AbstractUser) -> None:
    session = create(client_user)
    transfer = TransferLog.objects.create(action=Action.SEND, status=Status.SENDING, user=user, import_session=session)
    expire(session)
    assert import_expire_all() == 0
    assert session.directory.is_dir() and ImportSession.objects.filter(pk=session.pk).exists()
    TransferLog.objects.filter(pk=transfer.pk).update(status=Status.SUCCESS)
    assert import_expire_all() == 1
    assert not session.directory.exists()
    transfer.refresh_from_db()
    assert transfer.import_session is None  # the audit entry stays


def test_orphan_directories_older_than_the_ttl_are_removed(db: None) -> None:
    orphan = Path(settings.IMPORTS_DIR) / str(uuid.uuid4())
    orphan.mkdir()
    (orphan / "x.dcm").write_bytes(b"x")
    recent = Path(settings.IMPORTS_DIR) / str(uuid.uuid4())
    recent.mkdir()
    old = time.time() - settings.IMPORT_TTL - 10
    os.utime(orphan, (old, old))
    import_expire_all()
    assert not orphan.exists()
    assert recent.exists()  # maybe an import still being written
