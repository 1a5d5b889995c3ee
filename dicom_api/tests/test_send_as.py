"""Send as another patient (reconciliation per send): what ``/send/`` accepts and keeps, and what
the change does to an instance's header (the copy sent; the stored import is never changed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydicom
import pytest
from django.contrib.auth.models import User
from pydicom.filebase import DicomBytesIO
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Action, ImportSession, TransferLog
from dicom_api.services.instance_changes import changes_for
from dicom_api.services.reconciliation import Reconciliation
from dicom_api.tests.transfers_helpers import send
from testsupport.dicom_data import GeneratedSeries

pytestmark = pytest.mark.django_db

NEW = {
    "patient_id": "THEIRS-778",
    "issuer_of_patient_id": "ST-ELSEWHERE",
    "patient_name": "DOE^JANE^Q",
    "patient_birth_date": "19700102",
    "patient_sex": "F",
    "accession_number": "ACC-99",
}


def _send_as(
    client: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination, **patient: Any
) -> Any:
    return send(
        client,
        import_id=str(imported.pk),
        series_instance_uids=[series.series_instance_uid],
        destination_ids=[destination.pk],
        patient=patient,
    )


def test_a_send_keeps_the_values_it_is_sent_as_and_those_they_replace(
    client_user: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    response = _send_as(client_user, imported, series, destination, **NEW)
    assert response.status_code == 202, response.json()
    log = TransferLog.objects.get(pk=response.json()["transfers"][0]["id"])
    send_as = log.details["send_as"]
    assert send_as["values"] == NEW
    original = pydicom.dcmread(series.files[0], stop_before_pixels=True)
    assert send_as["previous"]["patient_id"] == original.PatientID == series.patient_id
    assert send_as["previous"]["patient_name"] == str(original.PatientName) == "TEST^API"
    assert set(send_as["previous"]) == set(NEW)
    # The audit snapshot stays what was imported; the change is beside it.
    assert (log.patient_id, log.patient_name) == (series.patient_id, "TEST^API")


@pytest.mark.parametrize(
    ("patient", "named"),
    [
        ({"patient_birth_date": "1970-01-02"}, "patient_birth_date"),
        ({"patient_birth_date": "19701302"}, "patient_birth_date"),
        ({"patient_sex": "X"}, "patient_sex"),
        ({"patient_id": "A\\B"}, "patient_id"),
        ({"patient_id": "x" * 65}, "patient_id"),
        ({"patient_id": ""}, "patient_id"),
        ({"accession_number": "a" * 17}, "accession_number"),
        ({"patient_name": "A^B^C^D^E^F"}, "patient_name"),
        ({"patient_name": "LINE\nBREAK"}, "patient_name"),
        ({}, "patient"),
    ],
)
def test_send_as_refuses_values_dicom_cannot_hold_naming_the_field(
    client_user: APIClient,
    imported: ImportSession,
    series: GeneratedSeries,
    destination: Destination,
    patient: dict[str, str],
    named: str,
) -> None:
    response = _send_as(client_user, imported, series, destination, **patient)
    assert response.status_code == 400
    assert named in str(response.json())
    assert not TransferLog.objects.filter(action=Action.SEND).exists()


def _encoded(dataset: pydicom.FileDataset) -> bytes:
    buffer = DicomBytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_the_change_sets_the_values_and_keeps_the_old_ones_in_original_attributes(series: GeneratedSeries) -> None:
    when = datetime(2026, 12, 1, 10, 30, 5, tzinfo=UTC)
    change = Reconciliation(values=NEW, modifying_system="DICOM Transfer DICOMTRANSFER", when=when)
    dataset = pydicom.dcmread(series.files[0])
    dataset.PatientSex = "O"
    assert "IssuerOfPatientID" not in dataset
    old_id, old_name = dataset.PatientID, str(dataset.PatientName)
    record = change.apply(dataset)
    assert record == {"changed": sorted(NEW)}
    assert (dataset.PatientID, dataset.IssuerOfPatientID, str(dataset.PatientName)) == (
        "THEIRS-778",
        "ST-ELSEWHERE",
        "DOE^JANE^Q",
    )
    assert (dataset.PatientBirthDate, dataset.PatientSex, dataset.AccessionNumber) == ("19700102", "F", "ACC-99")
    (item,) = dataset.OriginalAttributesSequence
    (previous,) = item.ModifiedAttributesSequence
    assert (previous.PatientID, str(previous.PatientName), previous.PatientSex) == (old_id, old_name, "O")
    assert previous.IssuerOfPatientID == ""  # absent before
    assert item.ReasonForTheAttributeModification == "COERCE"
    assert item.AttributeModificationDateTime == "20261201103005"
    assert item.ModifyingSystem == "DICOM Transfer DICOMTRANSFER"
    # The same change on a fresh read gives the same bytes: a resumed transfer sends the same copy.
    again = pydicom.dcmread(series.files[0])
    again.PatientSex = "O"
    change.apply(again)
    assert _encoded(again) == _encoded(dataset)
    # Values already right: nothing to change, no Original Attributes item.
    assert change.apply(dataset) is None
    assert len(dataset.OriginalAttributesSequence) == 1


def test_a_transfer_sent_as_another_patient_gets_that_change_and_a_retry_keeps_it(
    client_user: APIClient, user: User, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    response = _send_as(client_user, imported, series, destination, patient_id="THEIRS-1")
    log = TransferLog.objects.get(pk=response.json()["transfers"][0]["id"])
    (change,) = changes_for(log=log, destination=destination)
    assert isinstance(change, Reconciliation)
    assert change.values == {"patient_id": "THEIRS-1"}
    TransferLog.objects.filter(pk=log.pk).update(status="failed")
    retried = client_user.post(f"/api/dicom/transfers/{log.pk}/retry/")
    assert retried.status_code in (200, 201, 202), retried.json()
    new = TransferLog.objects.filter(action=Action.SEND).exclude(pk=log.pk).get()
    assert new.details["send_as"] == log.details["send_as"]
    (kept,) = changes_for(log=new, destination=destination)
    assert isinstance(kept, Reconciliation) and kept.when == change.when


def test_a_plain_send_changes_nothing(
    client_user: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    response = send(
        client_user,
        import_id=str(imported.pk),
        series_instance_uids=[series.series_instance_uid],
        destination_ids=[destination.pk],
    )
    log = TransferLog.objects.get(pk=response.json()["transfers"][0]["id"])
    assert "send_as" not in log.details
    assert changes_for(log=log, destination=destination) == []
