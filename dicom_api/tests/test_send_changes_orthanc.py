"""Send as another patient and de-identification, end to end: real workers send staged copies to
a real Orthanc, and the tests read back, through Orthanc's REST API, what it stored."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pydicom
import pytest
from django.contrib.auth.models import User
from pydicom.uid import generate_uid
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Delivery, TransferInstance, TransferLog
from dicom_api.services import deidentification as deid
from dicom_api.services.pseudonyms import deidentification_key
from dicom_api.tests.test_deidentification import _elements, _identifying, _values
from dicom_api.tests.test_transfers_worker import wait_for
from testsupport.dicom_data import generate_series, import_files
from testsupport.peers import LOOPBACK, Orthanc, orthanc
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def worker(tmp_path: Path, transactional_db: None) -> Iterator[Workers]:
    pool = Workers(tmp_path)
    pool.start(1)
    yield pool
    pool.stop()


def _stored(pacs: Orthanc) -> list[pydicom.Dataset]:
    ids = pacs.get("/instances")
    assert isinstance(ids, list)
    return [pydicom.dcmread(io.BytesIO(pacs._read(f"/instances/{i}/file"))) for i in ids]


def _send(client: APIClient, import_id: str, series: list[str], destination: Destination, **extra: object) -> list[int]:
    response = client.post(
        "/api/dicom/send/",
        {"import_id": import_id, "series_instance_uids": series, "destination_ids": [destination.pk], **extra},
        format="json",
    )
    assert response.status_code == 202, response.content
    return [t["id"] for t in response.json()["transfers"]]


def test_a_series_sent_as_another_patient_arrives_with_the_new_id_and_keeps_the_old_one(
    tmp_path: Path, user: User, client_user: APIClient, worker: Workers
) -> None:
    series = generate_series(tmp_path / "src", 3, patient_name="OURS^ANNA", patient_id="OURS-1")
    imported = import_files(user, series.files)
    stored = sorted(p for p in imported.directory.iterdir() if p.is_file())
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in stored]
    with orthanc(tmp_path / "orthanc") as pacs:
        destination = Destination.objects.create(
            name="Other hospital", ae_title="ORTHANC", host=LOOPBACK, port=pacs.dicom_port
        )
        ids = _send(
            client_user,
            str(imported.pk),
            [series.series_instance_uid],
            destination,
            patient={"patient_id": "THEIRS-778", "issuer_of_patient_id": "ST-ELSEWHERE"},
        )
        (log,) = wait_for(ids, {"success", "failed"})
        received = _stored(pacs)
    assert log.status == "success", log.error_message
    assert sorted(d.SOPInstanceUID for d in received) == sorted(series.sop_instance_uids)
    for dataset in received:
        assert (dataset.PatientID, dataset.IssuerOfPatientID) == ("THEIRS-778", "ST-ELSEWHERE")
        assert str(dataset.PatientName) == "OURS^ANNA"  # not asked to change
        (item,) = dataset.OriginalAttributesSequence
        (previous,) = item.ModifiedAttributesSequence
        assert previous.PatientID == "OURS-1"
        assert previous.IssuerOfPatientID == ""
        assert item.ReasonForTheAttributeModification == "COERCE"
    # The import is as it was, and the audit says old → new.
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in stored] == digests
    assert pydicom.dcmread(stored[0]).PatientID == "OURS-1"
    send_as = TransferLog.objects.get(pk=log.pk).details["send_as"]
    assert send_as["previous"] == {"patient_id": "OURS-1", "issuer_of_patient_id": ""}
    assert send_as["values"] == {"patient_id": "THEIRS-778", "issuer_of_patient_id": "ST-ELSEWHERE"}


def test_a_study_sent_twice_to_a_deidentifying_destination_arrives_the_same_and_without_identity(
    tmp_path: Path, user: User, client_user: APIClient, client_admin: APIClient, worker: Workers
) -> None:
    first = generate_series(
        tmp_path / "a", 3, patient_name="SECRET^SARAH", patient_id="MRN-4711", study_date="20240315"
    )
    second = generate_series(
        tmp_path / "b",
        2,
        patient_name="SECRET^SARAH",
        patient_id="MRN-4711",
        study_instance_uid=first.study_instance_uid,
        study_date="20240315",
    )
    # A screenshot with the patient's name in its pixels, in the first series.
    capture = pydicom.dcmread(first.files[0])
    capture.SOPInstanceUID = generate_uid()
    capture.file_meta.MediaStorageSOPInstanceUID = capture.SOPInstanceUID
    capture.SOPClassUID = capture.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    capture.BurnedInAnnotation = "YES"
    capture_path = tmp_path / "a" / "capture.dcm"
    capture.save_as(capture_path)
    originals = [pydicom.dcmread(p) for p in [*first.files, *second.files]]
    imported = import_files(user, [*first.files, capture_path, *second.files])
    with orthanc(tmp_path / "orthanc") as pacs:
        destination = Destination.objects.create(
            name="Research",
            ae_title="ORTHANC",
            host=LOOPBACK,
            port=pacs.dicom_port,
            deidentification={"profile": "basic", "options": ["retain_longitudinal_modified_dates"]},
        )
        uids = [first.series_instance_uid, second.series_instance_uid]
        logs = wait_for(_send(client_user, str(imported.pk), uids, destination), {"success", "failed"})
        once = _stored(pacs)
        for i in pacs.get("/instances"):  # type: ignore[union-attr]
            pacs._call("DELETE", f"/instances/{i}")
        again = wait_for(_send(client_user, str(imported.pk), uids, destination, resend=True), {"success", "failed"})
        twice = _stored(pacs)
    assert [log.status for log in logs + again] == ["success"] * 4, [log.error_message for log in logs + again]
    assert len(once) == 5  # the screenshot was held back, with its reason
    held = TransferInstance.objects.get(transfer_id=logs[0].pk, sop_instance_uid=capture.SOPInstanceUID)
    assert (held.outcome, "Burned In Annotation" in held.reason) == (Delivery.HELD_BACK, True)
    assert logs[0].error_message.startswith("1 of 4 instances was held back and not sent to this destination")
    assert capture.SOPInstanceUID in logs[0].error_message and logs[1].error_message == ""
    # The same new UIDs, pseudonym and dates on both sends; one study.
    assert sorted(d.SOPInstanceUID for d in once) == sorted(d.SOPInstanceUID for d in twice)
    assert {d.StudyInstanceUID for d in once + twice} == {once[0].StudyInstanceUID} != {first.study_instance_uid}
    assert len({d.SeriesInstanceUID for d in once}) == 2
    change = deid.Deidentification(key=deidentification_key(), options=frozenset())
    pseudonym = change.pseudonym("MRN-4711", "")
    shifted = (date(2024, 3, 15) - timedelta(days=change.day_shift("\x00MRN-4711"))).strftime("%Y%m%d")
    identifying: set[str] = set()
    for original in originals:
        identifying |= _identifying(original, change)
    for dataset in once + twice:
        assert (dataset.PatientIdentityRemoved, dataset.PatientID, str(dataset.PatientName)) == (
            "YES",
            pseudonym,
            pseudonym,
        )
        assert dataset.StudyDate == shifted
        left = {str(v) for tag, value, _ in _elements(dataset) if deid.action_of(tag) for v in _values(value)}
        assert identifying & left == set()
        assert "SECRET" not in str(dataset) and "MRN-4711" not in str(dataset)
    # Who the pseudonym is: the admin may ask, the operator who sent may not.
    assert client_user.get(f"/api/dicom/pseudonyms/{pseudonym}/").status_code == 403
    answer = client_admin.get(f"/api/dicom/pseudonyms/{pseudonym}/")
    assert (answer.status_code, answer.json()["patient_id"]) == (200, "MRN-4711")
