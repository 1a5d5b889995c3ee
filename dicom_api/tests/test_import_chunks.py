"""A large ZIP into an open import in chunks, resumable by offset:
POST /imports/{id}/uploads/, PATCH /imports/{id}/uploads/{upload_id}/?offset=N, GET of the upload.

(A chunk whose body is cut short, against a real server, is in test_import_interrupted.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from dicom_api.models import DicomInstance, ImportSession, ImportUpload
from testsupport.dicom_data import series, zip_bytes

pytestmark = pytest.mark.django_db


def open_import(client: APIClient) -> str:
    return str(client.post("/api/dicom/imports/").json()["import_id"])


def start(client: APIClient, import_id: str, path: str, size: int) -> Any:
    return client.post(f"/api/dicom/imports/{import_id}/uploads/", {"path": path, "size_bytes": size}, format="json")


def send_chunk(client: APIClient, import_id: str, upload_id: str, offset: int, data: bytes) -> Any:
    url = f"/api/dicom/imports/{import_id}/uploads/{upload_id}/?offset={offset}"
    return client.generic("PATCH", url, data, content_type="application/octet-stream")


def test_a_zip_goes_up_in_chunks_and_is_resumed_from_the_servers_offset(client_user: APIClient) -> None:
    disc = zip_bytes(series(12, pixel_bytes=30_000).files)
    third = len(disc) // 3
    import_id = open_import(client_user)
    started = start(client_user, import_id, "DISC.zip", len(disc))
    assert started.status_code == 201, started.content
    upload_id = started.json()["upload_id"]
    assert started.json()["offset"] == 0

    first = send_chunk(client_user, import_id, upload_id, 0, disc[:third])
    assert first.status_code == 200, first.content
    assert first.json() == {
        "upload_id": upload_id,
        "offset": third,
        "size_bytes": len(disc),
        "complete": False,
        "batch": None,
    }
    # The client was reloaded: announcing the same file again answers where it stopped.
    again = start(client_user, import_id, "DISC.zip", len(disc))
    assert again.status_code == 200 and again.json()["offset"] == third
    manifest = client_user.get(f"/api/dicom/imports/{import_id}/files/").json()
    assert manifest["uploads"] == [
        {"upload_id": upload_id, "path": "DISC.zip", "size_bytes": len(disc), "offset": third}
    ]
    assert manifest["files"] == []
    # A chunk that does not start where the server's copy ends is refused, saying where that is.
    wrong = send_chunk(client_user, import_id, upload_id, 0, disc[:third])
    assert wrong.status_code == 409
    assert wrong.json()["offset"] == third
    past = send_chunk(client_user, import_id, upload_id, third, disc[third:] + b"extra")
    assert past.status_code == 413

    second = send_chunk(client_user, import_id, upload_id, third, disc[third : 2 * third])
    assert second.json()["offset"] == 2 * third
    last = send_chunk(client_user, import_id, upload_id, 2 * third, disc[2 * third :])
    assert last.status_code == 200, last.content
    body = last.json()
    assert body["complete"] is True
    assert body["batch"]["instance_count"] == 12 and body["batch"]["received_bytes"] == len(disc)

    assert not ImportUpload.objects.exists()
    session = ImportSession.objects.get(pk=import_id)
    assert (session.instance_count, session.received_bytes) == (12, len(disc))
    manifest = client_user.get(f"/api/dicom/imports/{import_id}/files/").json()
    assert manifest["uploads"] == [] and manifest["files"] == [{"path": "DISC.zip", "size_bytes": len(disc)}]
    # Only the instances are kept: neither the assembled ZIP nor any chunk.
    directory = Path(settings.IMPORTS_DIR) / import_id
    assert sorted(p.suffix for p in directory.iterdir()) == [".dcm"] * 12
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []
    assert DicomInstance.objects.filter(import_session_id=import_id).count() == 12
    assert client_user.post(f"/api/dicom/imports/{import_id}/complete/").json()["instance_count"] == 12


def test_a_chunked_upload_is_the_owners_and_needs_an_open_import(
    client_user: APIClient, client_other: APIClient
) -> None:
    import_id = open_import(client_user)
    upload_id = start(client_user, import_id, "a.zip", 10).json()["upload_id"]
    assert start(client_other, import_id, "a.zip", 10).status_code == 404
    assert send_chunk(client_other, import_id, upload_id, 0, b"x" * 10).status_code == 404
    assert client_other.get(f"/api/dicom/imports/{import_id}/uploads/{upload_id}/").status_code == 404
    assert client_user.get(f"/api/dicom/imports/{import_id}/uploads/{upload_id}/").json()["offset"] == 0
    assert APIClient().post(f"/api/dicom/imports/{import_id}/uploads/").status_code == 401
    # No offset, no body, nothing announced.
    assert send_chunk(client_user, import_id, upload_id, 0, b"").status_code == 400
    assert start(client_user, import_id, "", 10).status_code == 400
    assert start(client_user, import_id, "big.zip", settings.UPLOAD_MAX_BYTES + 1).status_code == 413


def test_a_whole_file_that_is_not_dicom_is_recorded_with_its_error(client_user: APIClient) -> None:
    import_id = open_import(client_user)
    upload_id = start(client_user, import_id, "DISC/notes.zip", 5).json()["upload_id"]
    # Not a ZIP after all: a file like any other, refused as neither.
    body = send_chunk(client_user, import_id, upload_id, 0, b"hello").json()
    assert body["complete"] is True
    [error] = body["batch"]["errors"]
    assert error == {
        "filename": "DISC/notes.zip",
        "error": "neither a DICOM file nor a readable ZIP archive (damaged, or not a ZIP)",
    }
    assert ImportSession.objects.get(pk=import_id).instance_count == 0
