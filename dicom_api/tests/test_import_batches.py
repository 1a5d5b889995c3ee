"""Imports built in batches: POST /imports/, POST and GET /imports/{id}/files/, POST /imports/{id}/complete/.

(The interrupted batch, against a real server, is in test_import_interrupted.py.)
"""

from __future__ import annotations

import io
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from authentication.models import Account, Role
from conftest import client_for
from dicom_api.models import Action, DicomInstance, ImportFile, ImportSession, Status, TransferLog
from testsupport.dicom_data import instance, series, zip_bytes
from testsupport.live_app import multipart_body

pytestmark = pytest.mark.django_db


def post_files(client: APIClient, url: str, files: list[tuple[str, bytes]]) -> Any:
    """A multipart POST whose filenames keep their folders (Django's test client drops them)."""
    boundary, body = multipart_body(files)
    return client.generic("POST", url, body, content_type=f"multipart/form-data; boundary={boundary}")


def open_import(client: APIClient) -> str:
    response = client.post("/api/dicom/imports/")
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "open"
    return str(response.json()["import_id"])


def files_url(import_id: str) -> str:
    return f"/api/dicom/imports/{import_id}/files/"


def folder(count: int, name: str = "DISC/CT", **fields: Any) -> list[tuple[str, bytes]]:
    return [(f"{name}/{file}", content) for file, content in series(count, **fields).files.items()]


def stored_files() -> list[Path]:
    return sorted(p for p in Path(settings.IMPORTS_DIR).rglob("*") if p.is_file())


def test_an_import_is_filled_by_batches_and_completed(client_user: APIClient) -> None:
    import_id = open_import(client_user)
    first, second = folder(3), folder(2, name="DISC/MR", modality="MR")
    one = post_files(client_user, files_url(import_id), first)
    assert one.status_code == 201, one.content
    assert one.json()["batch"] == {
        "received_files": 3,
        "received_bytes": sum(len(c) for _, c in first),
        "instance_count": 3,
        "duplicate_count": 0,
        "duplicates": [],
        "errors": [],
    }
    two = post_files(client_user, files_url(import_id), [*second, ("DISC/README.txt", b"notes")])
    assert two.status_code == 201, two.content
    body = two.json()
    assert (body["state"], body["instance_count"], body["received_files"]) == ("open", 5, 6)
    assert body["batch"]["errors"] == [{"filename": "DISC/README.txt", "error": "not a DICOM file"}]

    manifest = client_user.get(files_url(import_id)).json()
    assert manifest["received_bytes"] == sum(len(c) for _, c in [*first, *second]) + 5
    assert {(f["path"], f["size_bytes"]) for f in manifest["files"]} == {
        *((n, len(c)) for n, c in [*first, *second]),
        ("DISC/README.txt", 5),
    }
    assert not TransferLog.objects.filter(action=Action.IMPORT).exists()  # audited when complete

    done = client_user.post(f"/api/dicom/imports/{import_id}/complete/")
    assert done.status_code == 200, done.content
    summary = done.json()
    assert summary["state"] == "complete"
    assert summary["instance_count"] == 5
    assert summary["errors"] == [{"filename": "DISC/README.txt", "error": "not a DICOM file"}]
    modalities = {s["modality"] for p in summary["patients"] for st in p["studies"] for s in st["series"]}
    assert modalities == {"CT", "MR"}
    entry = TransferLog.objects.get(action=Action.IMPORT)
    assert entry.status == Status.SUCCESS
    assert summary["log_id"] == entry.pk
    assert entry.details["instance_count"] == 5 and entry.details["series_count"] == 2
    # Completing twice is harmless; adding to a complete import is a conflict.
    assert client_user.post(f"/api/dicom/imports/{import_id}/complete/").status_code == 200
    late = post_files(client_user, files_url(import_id), folder(1))
    assert late.status_code == 409
    assert "complete" in late.json()["detail"]
    assert DicomInstance.objects.filter(import_session_id=import_id).count() == 5
    assert len(stored_files()) == 5


def test_an_open_import_cannot_be_sent(client_user: APIClient, make_destination: Any) -> None:
    destination = make_destination()
    import_id = open_import(client_user)
    post_files(client_user, files_url(import_id), folder(2))
    uid = DicomInstance.objects.filter(import_session_id=import_id).values_list("series_instance_uid", flat=True)[0]
    body = {"import_id": import_id, "series_instance_uids": [uid], "destination_ids": [destination.pk]}
    response = client_user.post("/api/dicom/send/", body, format="json")
    assert response.status_code == 409
    assert "complete it" in response.json()["detail"]
    assert not TransferLog.objects.filter(action=Action.SEND).exists()
    client_user.post(f"/api/dicom/imports/{import_id}/complete/")
    assert client_user.post("/api/dicom/send/", body, format="json").status_code == 202


def test_an_instance_sent_again_in_a_later_batch_is_a_duplicate(client_user: APIClient) -> None:
    import_id = open_import(client_user)
    files = folder(3)
    post_files(client_user, files_url(import_id), files)
    again = post_files(client_user, files_url(import_id), [("COPY/" + files[0][0], files[0][1])])
    assert again.json()["batch"]["duplicate_count"] == 1
    assert again.json()["instance_count"] == 3
    assert len(stored_files()) == 3  # the second copy was removed
    # The skipped file is named, in the batch's answer, the import's, and its audit entry.
    uid = str(pydicom.dcmread(BytesIO(files[0][1]), stop_before_pixels=True).SOPInstanceUID)
    named = [{"filename": "COPY/" + files[0][0], "sop_instance_uid": uid}]
    assert again.json()["batch"]["duplicates"] == again.json()["duplicates"] == named
    assert client_user.get(f"/api/dicom/imports/{import_id}/").json()["duplicates"] == named
    client_user.post(f"/api/dicom/imports/{import_id}/complete/")
    assert TransferLog.objects.get(action=Action.IMPORT).details["duplicates"] == named


def test_a_batch_refused_whole_leaves_the_import_as_it_was(client_user: APIClient) -> None:
    import_id = open_import(client_user)
    post_files(client_user, files_url(import_id), folder(2))
    before = ImportSession.objects.values().get(pk=import_id)
    stored = stored_files()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.dcm", instance())
        with archive.open("zeros.dcm", "w") as member:
            for _ in range(64):
                member.write(bytes(1024**2))
    response = post_files(client_user, files_url(import_id), [*folder(3), ("bomb.zip", buffer.getvalue())])
    assert response.status_code == 413
    assert ImportSession.objects.values().get(pk=import_id) == before
    assert ImportFile.objects.filter(import_session_id=import_id).count() == 2
    assert stored_files() == stored
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []
    refusal = TransferLog.objects.get(action=Action.IMPORT, status=Status.FAILED)
    assert refusal.details["import_id"] == import_id and refusal.details["status"] == 413


def test_completing_an_import_without_dicom_is_refused_and_it_stays_open(client_user: APIClient) -> None:
    import_id = open_import(client_user)
    post_files(client_user, files_url(import_id), [("notes.txt", b"x")])
    response = client_user.post(f"/api/dicom/imports/{import_id}/complete/")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"filename": "notes.txt", "error": "not a DICOM file"}]
    assert ImportSession.objects.get(pk=import_id).state == "open"
    # Audited as a refused upload, as POST /import/ is; and the page's clean-up of the empty
    # import is no deletion of anyone's data (no import_delete entry).
    [refused] = TransferLog.objects.filter(action=Action.IMPORT)
    assert (refused.status, refused.error_message) == (Status.FAILED, "No DICOM instance in the upload.")
    assert refused.details == {"import_id": import_id, "received_files": 1, "error_count": 1}
    assert client_user.delete(f"/api/dicom/imports/{import_id}/").status_code == 204
    assert not TransferLog.objects.filter(action=Action.IMPORT_DELETE).exists()


def test_another_users_import_is_404_everywhere(client_user: APIClient, client_other: APIClient) -> None:
    import_id = open_import(client_user)
    assert client_other.get(files_url(import_id)).status_code == 404
    assert post_files(client_other, files_url(import_id), folder(1)).status_code == 404
    assert client_other.post(f"/api/dicom/imports/{import_id}/complete/").status_code == 404
    assert client_other.get(f"/api/dicom/imports/{import_id}/").status_code == 404
    assert not DicomInstance.objects.exists()


def test_the_batch_endpoints_need_a_signed_in_operator(client_user: APIClient, make_user: Any) -> None:
    import_id = open_import(client_user)
    anonymous = APIClient()
    assert anonymous.post("/api/dicom/imports/").status_code == 401
    assert anonymous.get(files_url(import_id)).status_code == 401
    assert post_files(anonymous, files_url(import_id), folder(1)).status_code == 401
    auditor = make_user("carol")
    Account.objects.create(user=auditor, role=Role.AUDITOR)
    as_auditor = client_for(auditor)
    assert as_auditor.post("/api/dicom/imports/").status_code == 403
    assert not DicomInstance.objects.exists()
    assert ImportSession.objects.count() == 1


def test_errors_name_files_with_their_folder_and_every_archive_without_dicom(client_user: APIClient) -> None:
    files = [
        *folder(1, name="DISC/A"),
        ("DISC/A/README.txt", b"a"),
        ("DISC/B/README.txt", b"b"),
        ("empty.zip", zip_bytes({})),
        ("notes.zip", zip_bytes({"notes.txt": b"hello"})),
    ]
    response = post_files(client_user, "/api/dicom/import/", files)
    assert response.status_code == 201, response.content
    assert sorted((e["filename"], e["error"]) for e in response.json()["errors"]) == [
        ("DISC/A/README.txt", "not a DICOM file"),
        ("DISC/B/README.txt", "not a DICOM file"),
        ("empty.zip", "the ZIP archive holds no DICOM file"),
        ("notes.zip", "the ZIP archive holds no DICOM file"),
        ("notes.zip/notes.txt", "not a DICOM file"),
    ]
