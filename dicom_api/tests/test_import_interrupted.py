"""An upload whose client goes away stores nothing, against a real server (gunicorn with our
worker, and runserver): the body stops at 30 %, and the import is not created (or the open import
the batch was for is left exactly as it was); the abort is audited; no temporary file stays.

Then a folder of 1,000 instances in batches of 100, cut during the 4th batch and resumed from
the server's manifest: only the 7 missing batches go up, and the import ends with 1,000.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.db import connection

from dicom_api.models import Action, DicomInstance, ImportFile, ImportSession, Status, TransferLog
from testsupport.dicom_data import series
from testsupport.live_app import SERVERS, LiveApp, live_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "interrupted uploads stay out"


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(scope="module", params=SERVERS)
def app(
    request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[LiveApp]:
    with django_db_blocker.unblock():
        url = _database_url()
    with live_app(request.param, database_url=url, data_dir=tmp_path_factory.mktemp(request.param)) as running:
        yield running


@pytest.fixture
def token(app: LiveApp) -> str:
    # Hashed as the server hashes (the tests' settings use a fast hasher the server does not know).
    hashed = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    User.objects.create(username="uploader", password=hashed)
    return app.login("uploader", PASSWORD)


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def aborted_entries() -> list[TransferLog]:
    return list(TransferLog.objects.filter(action=Action.IMPORT, status=Status.FAILED, details__aborted=True))


def wait_for_abort(count: int = 1) -> list[TransferLog]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        entries = aborted_entries()
        if len(entries) >= count:
            return entries
        time.sleep(0.1)
    raise AssertionError("the aborted upload was not audited")


def study_files(count: int, *, pixel_bytes: int, folder: str = "DISC/CT") -> list[tuple[str, bytes]]:
    return [(f"{folder}/{name}", content) for name, content in series(count, pixel_bytes=pixel_bytes).files.items()]


def stored_zip(files: list[tuple[str, bytes]]) -> bytes:
    """A ZIP archive of the files, not compressed (so its chunks stream past JSON_MAX_BYTES)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files:
            archive.writestr(name, content)
    return buffer.getvalue()


def snapshot(import_id: str) -> dict[str, Any]:
    session = ImportSession.objects.get(pk=import_id)
    return {
        "row": {f.name: getattr(session, f.name) for f in ImportSession._meta.concrete_fields},
        "instances": sorted(DicomInstance.objects.filter(import_session=session).values_list("sop_instance_uid")),
        "files": sorted(ImportFile.objects.filter(import_session=session).values_list("path", "size_bytes")),
    }


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_an_upload_cut_at_30_percent_creates_no_import(app: LiveApp, token: str, reset: bool) -> None:
    files = study_files(40, pixel_bytes=100_000)  # 4 MB: past JSON_MAX_BYTES, so it streams to the app
    sent = app.upload_cut("/api/dicom/import/", token, files, fraction=0.3, reset=reset)

    (entry,) = wait_for_abort()
    assert not ImportSession.objects.exists()
    assert not DicomInstance.objects.exists()
    assert files_under(app.data_dir / "imports") == []
    assert files_under(app.data_dir / "tmp") == []
    assert entry.username == "uploader"
    assert 0 < entry.details["received_bytes"] <= sent < entry.details["expected_bytes"]
    assert 1 <= entry.details["files_begun"] < len(files)
    assert "interrupted" in entry.error_message and "nothing was imported" in entry.error_message
    # What was received, never whose: no patient and no file name in the entry.
    assert entry.patient_name == entry.patient_id == ""
    assert "DISC" not in entry.error_message and "Doe" not in str(entry.details)
    assert not TransferLog.objects.filter(action=Action.IMPORT, status=Status.SUCCESS).exists()


def test_a_batch_cut_at_30_percent_leaves_the_open_import_as_it_was(app: LiveApp, token: str) -> None:
    status, opened = app.request("POST", "/api/dicom/imports/", token=token)
    assert status == 201, opened
    import_id = opened["import_id"]
    first_batch = study_files(10, pixel_bytes=10_000)
    status, first = app.upload(f"/api/dicom/imports/{import_id}/files/", token, first_batch)
    assert status == 201, first
    before = snapshot(import_id)
    stored_before = files_under(app.data_dir / "imports")
    assert len(stored_before) == 10

    app.upload_cut(
        f"/api/dicom/imports/{import_id}/files/",
        token,
        study_files(40, pixel_bytes=100_000, folder="DISC/MR"),
        fraction=0.3,
        reset=False,
    )

    (entry,) = wait_for_abort()
    assert entry.details["import_id"] == import_id
    assert snapshot(import_id) == before
    assert files_under(app.data_dir / "imports") == stored_before
    assert files_under(app.data_dir / "tmp") == []
    status, manifest = app.request("GET", f"/api/dicom/imports/{import_id}/files/", token=token)
    assert status == 200
    assert [(f["path"], f["size_bytes"]) for f in manifest["files"]] == sorted(
        (name, len(content)) for name, content in first_batch
    )


def test_1000_instances_in_batches_cut_in_the_4th_resume_with_only_what_is_missing(app: LiveApp, token: str) -> None:
    folder = study_files(1000, pixel_bytes=20_000)  # 20 MB, 2 MB a batch
    sizes = {name: len(content) for name, content in folder}
    batches = [folder[at : at + 100] for at in range(0, len(folder), 100)]
    status, opened = app.request("POST", "/api/dicom/imports/", token=token)
    import_id = opened["import_id"]
    files_url = f"/api/dicom/imports/{import_id}/files/"
    for batch in batches[:3]:
        status, answer = app.upload(files_url, token, batch)
        assert status == 201, answer
    app.upload_cut(files_url, token, batches[3], fraction=0.3, reset=False)
    wait_for_abort()

    # Resume, as the page does after a reload: ask what the server has, send only the rest.
    status, manifest = app.request("GET", files_url, token=token)
    assert status == 200 and manifest["state"] == "open"
    have = {(f["path"], f["size_bytes"]) for f in manifest["files"]}
    assert len(have) == 300
    missing = [(name, content) for name, content in folder if (name, len(content)) not in have]
    resumed = [missing[at : at + 100] for at in range(0, len(missing), 100)]
    assert len(resumed) == 7
    for batch in resumed:
        status, answer = app.upload(files_url, token, batch)
        assert status == 201, answer
        assert answer["batch"]["duplicate_count"] == 0
    status, summary = app.request("POST", f"/api/dicom/imports/{import_id}/complete/", token=token)
    assert status == 200, summary

    assert summary["state"] == "complete"
    assert summary["instance_count"] == 1000 == DicomInstance.objects.filter(import_session_id=import_id).count()
    assert summary["duplicate_count"] == 0
    # The server counted every byte it kept once: nothing went up twice, the cut batch not at all.
    assert summary["received_bytes"] == sum(sizes.values())
    assert summary["received_files"] == 1000
    assert len(files_under(app.data_dir / "imports" / import_id)) == 1000
    assert files_under(app.data_dir / "tmp") == []
    entry = TransferLog.objects.get(action=Action.IMPORT, status=Status.SUCCESS)
    assert entry.details["instance_count"] == 1000 and entry.import_session_id is not None


def test_a_chunk_cut_at_30_percent_is_not_kept_and_the_upload_goes_on_from_where_it_was(
    app: LiveApp, token: str
) -> None:
    disc = stored_zip(study_files(30, pixel_bytes=100_000))  # 3 MB, sent in 2 chunks
    half = len(disc) // 2
    status, opened = app.request("POST", "/api/dicom/imports/", token=token)
    import_id = opened["import_id"]
    status, started = app.request(
        "POST",
        f"/api/dicom/imports/{import_id}/uploads/",
        token=token,
        body={"path": "disc.zip", "size_bytes": len(disc)},
    )
    assert status == 201, started
    chunk_url = f"/api/dicom/imports/{import_id}/uploads/{started['upload_id']}/"
    status, first = app.send_bytes("PATCH", f"{chunk_url}?offset=0", token, disc[:half])
    assert (status, first["offset"]) == (200, half)

    app.send_bytes_cut("PATCH", f"{chunk_url}?offset={half}", token, disc[half:], fraction=0.3)

    (entry,) = wait_for_abort()
    assert entry.details["import_id"] == import_id and entry.details["chunk_offset"] == half
    status, state = app.request("GET", chunk_url, token=token)
    assert state["offset"] == half
    (partial,) = (app.data_dir / "imports" / import_id).glob(".upload-*")
    assert partial.stat().st_size == half
    assert files_under(app.data_dir / "tmp") == []
    assert ImportSession.objects.get(pk=import_id).instance_count == 0

    status, last = app.send_bytes("PATCH", f"{chunk_url}?offset={half}", token, disc[half:])
    assert status == 200, last
    assert last["complete"] is True and last["batch"]["instance_count"] == 30
    session = ImportSession.objects.get(pk=import_id)
    assert (session.instance_count, session.received_bytes) == (30, len(disc))
