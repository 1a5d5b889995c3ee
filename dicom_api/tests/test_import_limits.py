"""POST /api/dicom/import/ refuses what is too large, and leaves nothing behind."""

from __future__ import annotations

import errno
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from dicom_api.models import Action, ImportSession, Status, TransferLog
from dicom_api.services import archives, imports
from testsupport.dicom_data import instance, series, upload, zip_bytes

pytestmark = pytest.mark.django_db
URL = "/api/dicom/import/"


def post(client: APIClient, *files: Any) -> Any:
    return client.post(URL, {"files": list(files)}, format="multipart")


def assert_nothing_left() -> None:
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []
    assert list(Path(settings.IMPORTS_DIR).iterdir()) == []
    assert ImportSession.objects.count() == 0


def assert_refusal_audited(response: Any) -> None:
    """The refused upload has its failed import entry, with the answer's message and status."""
    entry = TransferLog.objects.get(action=Action.IMPORT)
    assert (entry.status, entry.details, entry.error_message) == (
        Status.FAILED,
        {"status": response.status_code},
        response.json()["detail"],
    )


def test_the_defaults_accept_a_3_gb_upload_of_5000_instances() -> None:
    assert settings.UPLOAD_MAX_BYTES >= 3 * 1024**3
    assert settings.UPLOAD_MAX_FILES >= 5000
    assert settings.DATA_UPLOAD_MAX_NUMBER_FILES >= 5000
    assert settings.ZIP_MAX_MEMBERS >= 5000
    assert settings.ZIP_MAX_UNCOMPRESSED_BYTES >= 3 * 1024**3


def test_an_oversized_upload_is_refused_with_413(client_user: APIClient, settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 50_000
    response = post(client_user, upload("a.dcm", instance()), upload("b.dcm", instance(pixel_bytes=100_000)))
    assert response.status_code == 413
    assert "UPLOAD_MAX_BYTES" in response.json()["detail"]
    assert_nothing_left()
    assert TransferLog.objects.get(action=Action.IMPORT).status == Status.FAILED


def test_too_many_files_are_refused_with_413(client_user: APIClient, settings: Any) -> None:
    settings.UPLOAD_MAX_FILES = 2
    response = post(client_user, *[upload(n, b) for n, b in series(3).files.items()])
    assert response.status_code == 413
    assert "UPLOAD_MAX_FILES" in response.json()["detail"]
    assert_nothing_left()


def test_djangos_own_file_count_limit_answers_413_too(client_user: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = post(client_user, *[upload(n, b) for n, b in series(3).files.items()])
    assert response.status_code == 413
    assert "files" in response.json()["detail"]
    assert_nothing_left()


def test_a_zip_bomb_is_refused_with_413(client_user: APIClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.dcm", instance())
        with archive.open("zeros.dcm", "w") as member:
            for _ in range(64):
                member.write(bytes(1024**2))
    assert len(buffer.getvalue()) < 1024**2
    response = post(client_user, upload("a.dcm", instance()), upload("bomb.zip", buffer.getvalue()))
    assert response.status_code == 413
    assert "ZIP_MAX_RATIO" in response.json()["detail"]
    assert_nothing_left()
    assert_refusal_audited(response)


def test_a_zip_beyond_the_uncompressed_limit_is_refused(client_user: APIClient, settings: Any) -> None:
    study = series(5, pixel_bytes=64 * 1024)
    settings.ZIP_MAX_UNCOMPRESSED_BYTES = 3 * 64 * 1024
    response = post(client_user, upload("study.zip", zip_bytes(study.files)))
    assert response.status_code == 413
    assert "ZIP_MAX_UNCOMPRESSED_BYTES" in response.json()["detail"]
    assert_nothing_left()
    assert_refusal_audited(response)


def test_a_zip_with_too_many_members_is_refused(client_user: APIClient, settings: Any) -> None:
    settings.ZIP_MAX_MEMBERS = 3
    response = post(client_user, upload("study.zip", zip_bytes(series(4).files)))
    assert response.status_code == 413
    assert "ZIP_MAX_MEMBERS" in response.json()["detail"]
    assert_nothing_left()
    assert_refusal_audited(response)


def test_the_member_count_reads_the_central_directory_itself(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(zip_bytes({f"d/{n}.txt": b"x" for n in range(25)}))
    assert archives.zip_member_count(path, stop_after=100) == 25
    assert archives.zip_member_count(path, stop_after=10) == 11
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = b"comment"
    assert archives.zip_member_count(path, stop_after=100) == 25


def test_low_free_space_answers_507(client_user: APIClient, settings: Any) -> None:
    settings.STORAGE_MIN_FREE_BYTES = 1 << 62
    response = post(client_user, upload("a.dcm", instance()))
    assert response.status_code == 507
    assert "storage" in response.json()["detail"]
    assert_nothing_left()
    assert_refusal_audited(response)


def test_a_full_disk_while_storing_answers_507_and_leaves_nothing(
    client_user: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = imports._move_or_copy

    def fill_up(source: Path, destination: Path, size: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(source, destination, size)

    monkeypatch.setattr(imports, "_move_or_copy", fill_up)
    response = post(client_user, *[upload(n, b) for n, b in series(3).files.items()])
    assert response.status_code == 507
    assert_nothing_left()
    assert_refusal_audited(response)
