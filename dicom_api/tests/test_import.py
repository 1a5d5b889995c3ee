"""POST /api/dicom/import/: files and ZIP archives in, patient → study → series out."""

from __future__ import annotations

import random
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from pydicom.data import get_testdata_file
from rest_framework.test import APIClient

from dicom_api.models import Action, DicomInstance, ImportSession, Status, TransferLog
from testsupport.dicom_data import deeply_nested, deflated_instance, instance, png_bytes, series, upload, zip_bytes

pytestmark = pytest.mark.django_db
URL = "/api/dicom/import/"
TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent
# pydicom ships these cut short on purpose; pydicom reads their header, we refuse them as damaged.
TRUNCATED = {"MR_truncated.dcm", "rtplan_truncated.dcm"}


def post(client: APIClient, *files: Any) -> Any:
    return client.post(URL, {"files": list(files)}, format="multipart")


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink())


def assert_no_temporary_files() -> None:
    assert files_under(Path(settings.FILE_UPLOAD_TEMP_DIR)) == []


def flatten(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """series_instance_uid -> the series entry, with its patient and study beside it."""
    result = {}
    for patient in body["patients"]:
        for study in patient["studies"]:
            for entry in study["series"]:
                result[entry["series_instance_uid"]] = {**entry, "patient": patient, "study": study}
    return result


def test_it_imports_a_generated_study_and_groups_it(client_user: APIClient, user: AbstractUser) -> None:
    first = series(3, series_number=1)
    second = series(2, series_number=2, study_instance_uid=first.study_instance_uid, modality="MR")
    parts = [upload(n, b) for n, b in {**first.files, **second.files}.items()]
    parts[0] = upload(
        "no-preamble.dcm",
        instance(
            preamble=False, study_instance_uid=first.study_instance_uid, series_instance_uid=first.series_instance_uid
        ),
    )
    response = post(client_user, *parts)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["received_files"], body["instance_count"], body["duplicate_count"], body["errors"]) == (5, 5, 0, [])
    assert body["patients"] == [
        {
            "patient_id": "P-1",
            "patient_name": "Doe^Jane",
            "patient_birth_date": None,
            "patient_sex": "",
            "studies": [
                {
                    "study_instance_uid": first.study_instance_uid,
                    "study_date": "2024-01-31",
                    "study_description": "Chest",
                    "accession_number": "ACC-1",
                    "study_time": None,
                    "referring_physician_name": "",
                    "institution_name": "",
                    "series": [
                        {
                            "series_instance_uid": first.series_instance_uid,
                            "series_number": 1,
                            "series_description": "Series 1",
                            "modality": "CT",
                            "instance_count": 3,
                            "size_bytes": sum(len(p.read()) for p in parts[:3] if not p.seek(0)),
                            "series_date": None,
                            "series_time": None,
                            "body_part_examined": "",
                        },
                        {
                            "series_instance_uid": second.series_instance_uid,
                            "series_number": 2,
                            "series_description": "Series 2",
                            "modality": "MR",
                            "instance_count": 2,
                            "size_bytes": sum(len(b) for b in second.files.values()),
                            "series_date": None,
                            "series_time": None,
                            "body_part_examined": "",
                        },
                    ],
                }
            ],
        }
    ]
    session = ImportSession.objects.get(pk=body["import_id"])
    assert session.owner == user
    rows = DicomInstance.objects.filter(import_session=session)
    assert rows.count() == 5
    for row in rows:
        assert row.path.is_file() and row.path.parent == session.directory
        assert row.sop_class_uid == pydicom.uid.CTImageStorage
        assert row.transfer_syntax_uid in {pydicom.uid.ExplicitVRLittleEndian, ""}
        assert pydicom.dcmread(row.path, force=True).SOPInstanceUID == row.sop_instance_uid
    log = TransferLog.objects.get(action=Action.IMPORT)
    assert (log.id, log.status, log.user, log.instance_count) == (body["log_id"], Status.SUCCESS, user, 5)
    assert log.details["duplicate_count"] == 0 and log.details["series_count"] == 2
    assert_no_temporary_files()


def test_it_imports_every_pydicom_test_file_with_exact_counts(client_user: APIClient) -> None:
    paths = sorted(p for p in TEST_FILES.rglob("*") if p.is_file())
    expected_series: dict[str, set[str]] = {}
    expected_errors: set[str] = set()
    readable = 0
    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
            is_dicomdir = ds.file_meta.get("MediaStorageSOPClassUID") == "1.2.840.10008.1.3.10"
            uids = [str(ds.get(k, "") or "") for k in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")]
        except Exception:
            is_dicomdir, uids = False, ["", "", ""]
        if all(uids) and not is_dicomdir and path.name not in TRUNCATED:
            readable += 1
            sop, series_uid, _ = uids
            if not any(sop in s for s in expected_series.values()):
                expected_series.setdefault(series_uid, set()).add(sop)
        else:
            expected_errors.add(path.name)
    assert readable > 60  # the test data is there

    response = post(client_user, *[upload(p.name, p.read_bytes()) for p in paths])
    assert response.status_code == 201
    body = response.json()
    instances = sum(len(s) for s in expected_series.values())
    assert body["received_files"] == len(paths)
    assert body["instance_count"] == instances
    assert body["duplicate_count"] == readable - instances
    got = flatten(body)
    assert {uid: entry["instance_count"] for uid, entry in got.items()} == {
        uid: len(sops) for uid, sops in expected_series.items()
    }
    errors = {e["filename"]: e["error"] for e in body["errors"]}
    assert set(errors) == expected_errors
    assert "truncated" in errors["MR_truncated.dcm"]
    assert errors["README.txt"] == "not a DICOM file"
    assert errors["DICOMDIR"].startswith("DICOMDIR")
    assert DicomInstance.objects.count() == instances
    assert_no_temporary_files()


def test_it_lists_non_dicom_and_damaged_files_in_errors_and_imports_the_rest(client_user: APIClient) -> None:
    good = instance()
    junk = {
        "notes.txt": b"Patient notes, not an image.\n",
        "picture.png": png_bytes(),
        "empty.dcm": b"",
        "cut-in-header.dcm": good[:300],
        "cut-in-pixels.dcm": good[: len(good) - 1000],
        "random.bin": random.Random(4).randbytes(4096),
        "nested.dcm": deeply_nested(5000),
    }
    response = post(client_user, upload("good.dcm", good), *[upload(n, b) for n, b in junk.items()])
    assert response.status_code == 201
    body = response.json()
    assert body["instance_count"] == 1 and body["received_files"] == 8
    errors = {e["filename"]: e["error"] for e in body["errors"]}
    assert set(errors) == set(junk)
    assert errors["notes.txt"] == errors["picture.png"] == errors["random.bin"] == "not a DICOM file"
    assert errors["empty.dcm"] == "empty file"
    assert "truncated" in errors["cut-in-header.dcm"] and "truncated" in errors["cut-in-pixels.dcm"]
    assert errors["nested.dcm"] == "DICOM data set is nested too deeply"
    assert_no_temporary_files()


def test_it_imports_an_honest_deflated_file(client_user: APIClient) -> None:
    response = post(client_user, upload("deflated.dcm", deflated_instance()))
    assert response.status_code == 201
    assert DicomInstance.objects.get().transfer_syntax_uid == "1.2.840.10008.1.2.1.99"


def test_it_refuses_a_deflated_file_that_inflates_to_a_gigabyte(client_user: APIClient, deflate_bomb: Path) -> None:
    response = post(client_user, upload("bomb.dcm", deflate_bomb.read_bytes()), upload("good.dcm", instance()))
    assert response.status_code == 201
    body = response.json()
    assert body["instance_count"] == 1
    assert body["errors"] == [
        {"filename": "bomb.dcm", "error": "deflated DICOM data set inflates to more than 64 MB: refused"}
    ]


def test_it_answers_400_with_the_errors_when_nothing_is_dicom(client_user: APIClient, user: AbstractUser) -> None:
    response = post(client_user, upload("notes.txt", b"hello"), upload("empty.dcm", b""))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "No DICOM instance was found in the upload; see errors.",
        "received_files": 2,
        "errors": [
            {"filename": "notes.txt", "error": "not a DICOM file"},
            {"filename": "empty.dcm", "error": "empty file"},
        ],
    }
    assert ImportSession.objects.count() == 0
    assert files_under(Path(settings.IMPORTS_DIR)) == []
    log = TransferLog.objects.get(action=Action.IMPORT)
    assert (log.status, log.user) == (Status.FAILED, user)
    assert_no_temporary_files()


def test_it_requires_the_files_field(client_user: APIClient) -> None:
    response = client_user.post(URL, {"file": upload("a.dcm", instance())}, format="multipart")
    assert response.status_code == 400
    assert "files" in response.json()
    assert_no_temporary_files()


def test_it_requires_authentication(anon_client: APIClient, db: None) -> None:
    assert post(anon_client, upload("a.dcm", instance())).status_code == 401
    assert ImportSession.objects.count() == 0


def test_it_stores_the_same_instance_once(client_user: APIClient) -> None:
    data = instance()
    archive = zip_bytes({"again/a.dcm": data})
    response = post(client_user, upload("a.dcm", data), upload("copy.dcm", data), upload("a.zip", archive))
    assert response.status_code == 201
    body = response.json()
    assert (body["received_files"], body["instance_count"], body["duplicate_count"]) == (3, 1, 2)
    # Which files were skipped, as the client named them (the first one read is kept).
    skipped = [d["filename"] for d in body["duplicates"]]
    assert skipped == ["copy.dcm", "a.zip/again/a.dcm"]
    assert len({d["sop_instance_uid"] for d in body["duplicates"]}) == 1
    assert TransferLog.objects.get(action=Action.IMPORT).details["duplicates"] == body["duplicates"]
    session = ImportSession.objects.get()
    assert [p.name for p in files_under(session.directory)] == [DicomInstance.objects.get().relative_path]


def test_it_names_stored_files_itself(client_user: APIClient) -> None:
    response = post(client_user, upload("../../../../outside.dcm", instance()), upload("C:\\evil.dcm", instance()))
    assert response.status_code == 201
    session = ImportSession.objects.get()
    stored = files_under(Path(settings.IMPORTS_DIR))
    assert len(stored) == 2
    for path in stored:
        assert path.parent == session.directory
        assert path.name.endswith(".dcm") and "outside" not in path.name and "evil" not in path.name


def test_it_imports_dicom_members_of_a_zip_and_writes_nothing_outside(client_user: APIClient, tmp_path: Path) -> None:
    study = series(3)
    members = {f"study/series-1/{name}": data for name, data in study.files.items()}
    one, two, three = (instance() for _ in range(3))
    members |= {
        "study/readme.txt": b"junk",
        "study/empty/": b"",
        "../../etc/x": one,
        "/absolute/path.dcm": two,
        "C:/windows/evil.dcm": three,
    }
    archive = zip_bytes(members, symlinks={"study/link.dcm": "/etc/passwd"})
    response = post(client_user, upload("study.zip", archive))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["instance_count"] == 6
    assert body["received_files"] == 8  # files in the archive (folders are not files)
    assert {e["filename"]: e["error"] for e in body["errors"]} == {
        "study.zip/study/readme.txt": "not a DICOM file",
        "study.zip/study/link.dcm": "symbolic link in a ZIP archive: skipped",
    }
    assert flatten(body)[study.series_instance_uid]["instance_count"] == 3
    session = ImportSession.objects.get()
    everything = files_under(tmp_path.parent)
    written = [p for p in everything if tmp_path in p.parents and Path(settings.FILE_UPLOAD_TEMP_DIR) not in p.parents]
    assert {p.parent for p in written} == {session.directory}
    assert len(written) == 6
    assert not (Path(settings.IMPORTS_DIR).parent.parent / "etc").exists()
    assert not (session.directory.parent.parent / "etc").exists()
    assert_no_temporary_files()


def test_a_damaged_zip_is_an_error_of_that_file(client_user: APIClient) -> None:
    archive = zip_bytes({"a.dcm": instance()})
    response = post(client_user, upload("broken.zip", archive[: len(archive) // 2]), upload("b.dcm", instance()))
    assert response.status_code == 201
    assert response.json()["errors"] == [{"filename": "broken.zip", "error": "damaged ZIP archive"}]


def test_counts_are_consistent_in_the_database(client_user: APIClient) -> None:
    parts = [upload(n, b) for n, b in series(4).files.items()]
    body = post(client_user, *parts).json()
    counts = Counter(DicomInstance.objects.values_list("series_instance_uid", flat=True))
    assert {uid: e["instance_count"] for uid, e in flatten(body).items()} == dict(counts)


def test_the_audit_entry_of_an_import_of_several_patients_lists_them(client_user: APIClient) -> None:
    files = [
        upload(f"{index}.dcm", instance(patient_id=pid, patient_name=name, study_instance_uid=f"1.2.3.{index}"))
        for index, (pid, name) in enumerate([("P-2", "Roe^Rick"), ("P-1", "Doe^Jane"), ("P-3", "Poe^Edgar")])
    ]
    assert post(client_user, *files).status_code == 201
    log = TransferLog.objects.get(action=Action.IMPORT)
    # The row can't name one patient; the details name them all.
    assert (log.patient_name, log.patient_id) == ("", "")
    assert log.details["patient_count"] == 3
    assert log.details["patients"] == [
        {"patient_id": "P-1", "patient_name": "Doe^Jane"},
        {"patient_id": "P-2", "patient_name": "Roe^Rick"},
        {"patient_id": "P-3", "patient_name": "Poe^Edgar"},
    ]
