"""De-identification (PS3.15 Basic Profile) of the copies sent to a destination that asks for it:
what is left of the identifying attributes, how UIDs, pseudonyms and dates stay consistent, which
instances are held back, and who may learn who a pseudonym is."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from django.contrib.auth.models import User
from pydicom import Dataset
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.tag import BaseTag
from pydicom.valuerep import MAX_VALUE_LEN
from rest_framework.test import APIClient

from authentication.models import Account, Role
from conftest import client_for
from destinations.models import Destination
from dicom_api.models import Action, ImportSession, PatientPseudonym, TransferLog
from dicom_api.services import deidentification as deid
from dicom_api.services.instance_changes import HeldBack, changes_for
from dicom_api.tests.transfers_helpers import send
from dicomnet.transcode import stage_copy
from testsupport.dicom_data import GeneratedSeries, generate_series

KEY = b"k" * 32


def _elements(dataset: Dataset) -> Iterator[tuple[BaseTag, Any, str]]:
    for element in dataset:
        if element.VR == "SQ":
            for item in element.value or []:
                yield from _elements(item)
        else:
            yield element.tag, element.value, element.VR


def _values(value: Any) -> list[Any]:
    many = isinstance(value, list | pydicom.multival.MultiValue)
    return [v for v in (value if many else [value]) if v is not None and str(v) != ""]


def _samples() -> list[Path]:
    found = []
    for name in get_testdata_files("*.dcm"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset = pydicom.dcmread(name, stop_before_pixels=True)
        except Exception:  # noqa: S112 - deliberately broken samples are no study to send
            continue
        if "PatientName" in dataset or "PatientID" in dataset:
            found.append(Path(name))
    return found


def _identifying(dataset: Dataset, change: deid.Deidentification) -> set[str]:
    """The original values of Table E.1-1's attributes this profile must not leave."""
    values: set[str] = set()
    for tag, value, vr in _elements(dataset):
        action = deid.action_of(tag)
        if action is None or tag in deid._KEPT or (vr in ("DA", "TM", "DT") and value in ("", None)):
            continue
        for one in value if isinstance(value, list | pydicom.multival.MultiValue) else [value]:
            text = str(one).strip() if one is not None else ""
            if (len(text) >= 3 and not text.replace(".", "").isdigit()) or (vr == "UI" and text):
                values.add(text)
    return values


@pytest.mark.parametrize("path", _samples(), ids=lambda p: p.name)
def test_no_identifying_value_of_table_e11_is_left_in_a_sample_file(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    change = deid.Deidentification(key=KEY, options=frozenset({"allow_burned_in_annotation"}))
    before = _identifying(dataset, change)
    names = {str(dataset.get(k, "")) for k in ("PatientName", "PatientID", "OtherPatientIDs")} - {""}
    change.apply(dataset)
    # What is left in the attributes of the table (a value equal by chance to another attribute's,
    # like a Modality "ECG" and a Study Description "ECG", is no leak) ...
    after = {str(v) for tag, value, _ in _elements(dataset) if deid.action_of(tag) for v in _values(value)}
    assert before & after == set()
    # ... and the patient's name and id are nowhere at all.
    everywhere = {str(v) for _, value, _ in _elements(dataset) for v in _values(value)}
    assert {n for n in names if len(n) >= 3} & everywhere == set()
    assert not [element.tag for element in dataset if element.tag.is_private]
    assert dataset.PatientIdentityRemoved == "YES"
    assert dataset.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert (
        dataset.PatientName
        == dataset.PatientID
        == change.pseudonym(
            str(pydicom.dcmread(path, stop_before_pixels=True).get("PatientID", "")),
            str(pydicom.dcmread(path, stop_before_pixels=True).get("IssuerOfPatientID", "")),
        )
    )


@pytest.mark.parametrize("path", _samples(), ids=lambda p: p.name)
def test_every_value_left_fits_its_value_representation(path: Path) -> None:
    """A dummy is a valid value: the pseudonym (17 characters) in a Short String (at most 16, e.g.
    an RT Plan Label) would be refused by a strict peer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    deid.Deidentification(key=KEY, options=frozenset({"allow_burned_in_annotation"})).apply(dataset)
    too_long = [
        (tag, vr, str(v))
        for tag, value, vr in _elements(dataset)
        for v in _values(value)
        if vr in MAX_VALUE_LEN and vr != "PN" and len(str(v)) > MAX_VALUE_LEN[vr]
    ]
    assert too_long == []


def test_uids_pseudonyms_and_date_shifts_are_the_same_across_instances_and_sends(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 3, patient_name="SHIFT^ME", study_date="20240315")
    first, second = (pydicom.dcmread(p) for p in series.files[:2])
    # A reference inside the study: the second instance names the first.
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = first.SOPClassUID, first.SOPInstanceUID
    second.ReferencedImageSequence = [item]
    options = frozenset({"retain_longitudinal_modified_dates"})
    one_send = deid.Deidentification(key=KEY, options=options)
    original_time = str(first.get("StudyTime", ""))
    one_send.apply(first)
    one_send.apply(second)
    assert first.StudyInstanceUID == second.StudyInstanceUID != series.study_instance_uid
    assert first.SeriesInstanceUID == second.SeriesInstanceUID != series.series_instance_uid
    assert second.ReferencedImageSequence[0].ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert len(first.SOPInstanceUID) <= 64
    shift = one_send.day_shift(f"\x00{series.patient_id}")
    from datetime import date

    assert first.StudyDate == deid.shifted_date(date(2024, 3, 15), shift).strftime("%Y%m%d") != "20240315"
    assert str(first.get("StudyTime", "")) == original_time
    assert first.LongitudinalTemporalInformationModified == "MODIFIED"
    # Another send (another process, same installation key): the same values.
    again = pydicom.dcmread(series.files[0])
    deid.Deidentification(key=KEY, options=options).apply(again)
    assert (again.StudyInstanceUID, again.SOPInstanceUID, again.PatientID, again.StudyDate) == (
        first.StudyInstanceUID,
        first.SOPInstanceUID,
        first.PatientID,
        first.StudyDate,
    )
    # Another installation's key: nothing in common.
    other = pydicom.dcmread(series.files[0])
    deid.Deidentification(key=b"x" * 32, options=options).apply(other)
    assert other.StudyInstanceUID != first.StudyInstanceUID and other.PatientID != first.PatientID


def test_options_keep_what_they_name_and_only_that(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 1, patient_name="KEEP^ME", description="CT KEEP ME chest")
    dataset = pydicom.dcmread(series.files[0])
    dataset.PatientSex, dataset.PatientAge, dataset.DeviceSerialNumber = "F", "042Y", "SN-1234"
    options = frozenset({"retain_patient_characteristics", "retain_device_identity", "clean_descriptors"})
    deid.Deidentification(key=KEY, options=options).apply(dataset)
    assert (dataset.PatientSex, dataset.PatientAge, dataset.DeviceSerialNumber) == ("F", "042Y", "SN-1234")
    assert dataset.SeriesDescription == "CT chest"  # the patient's name taken out of the descriptor
    plain = pydicom.dcmread(series.files[0])
    plain.PatientSex, plain.DeviceSerialNumber = "F", "SN-1234"
    deid.Deidentification(key=KEY, options=frozenset()).apply(plain)
    assert "SeriesDescription" not in plain
    assert plain.get("DeviceSerialNumber", "") in ("", None)
    assert plain.get("PatientSex", "") in ("", None)
    assert plain.LongitudinalTemporalInformationModified == "REMOVED"


def test_burned_in_annotation_is_held_back_unless_allowed(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 1, patient_name="BURNED^IN")
    dataset = pydicom.dcmread(series.files[0])
    dataset.BurnedInAnnotation = "YES"
    with pytest.raises(HeldBack, match="Burned In Annotation is YES"):
        deid.Deidentification(key=KEY, options=frozenset()).apply(dataset)
    capture = pydicom.dcmread(series.files[0])
    capture.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture, not saying
    with pytest.raises(HeldBack, match="secondary capture"):
        deid.Deidentification(key=KEY, options=frozenset()).apply(capture)
    capture.BurnedInAnnotation = "NO"
    assert deid.Deidentification(key=KEY, options=frozenset()).apply(capture) is not None
    dataset.BurnedInAnnotation = "YES"
    assert deid.Deidentification(key=KEY, options=frozenset({"allow_burned_in_annotation"})).apply(dataset)


# --- The destination's setting, the transfer's snapshot, the mapping ---------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"profile": "basic", "options": ["retain_safe_private"]}, "retain_safe_private is not supported"),
        ({"profile": "basic", "options": ["keep_everything"]}, "unknown keep_everything"),
        ({"profile": "extended", "options": []}, "deidentification.profile"),
        ("basic", "null or"),
    ],
)
def test_a_destination_refuses_a_profile_it_cannot_apply(client_admin: APIClient, value: Any, message: str) -> None:
    response = client_admin.post(
        "/api/destinations/",
        {"name": "Research", "ae_title": "RESEARCH", "host": "127.0.0.1", "port": 104, "deidentification": value},
        format="json",
    )
    assert response.status_code == 400
    assert message in str(response.json())
    assert not Destination.objects.exists()


@pytest.mark.django_db
def test_a_send_to_a_deidentifying_destination_keeps_the_profile_and_records_pseudonyms(
    client_user: APIClient,
    client_admin: APIClient,
    user: User,
    imported: ImportSession,
    series: GeneratedSeries,
    make_user: Any,
) -> None:
    created = client_admin.post(
        "/api/destinations/",
        {
            "name": "Research",
            "ae_title": "RESEARCH",
            "host": "127.0.0.1",
            "port": 104,
            "deidentification": {"profile": "basic", "options": ["retain_patient_characteristics"]},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["deidentification"] == {"profile": "basic", "options": ["retain_patient_characteristics"]}
    destination = Destination.objects.get()
    response = send(
        client_user,
        import_id=str(imported.pk),
        series_instance_uids=[series.series_instance_uid],
        destination_ids=[destination.pk],
    )
    log = TransferLog.objects.get(pk=response.json()["transfers"][0]["id"])
    assert log.details["deidentification"] == {"profile": "basic", "options": ["retain_patient_characteristics"]}
    # A later change of the destination does not change what this transfer applies.
    Destination.objects.filter(pk=destination.pk).update(deidentification=None)
    destination.refresh_from_db()
    (change,) = changes_for(log=log, destination=destination)
    dataset = pydicom.dcmread(series.files[0])
    record = change.apply(dataset)
    assert record == {"profile": "basic", "options": ["retain_patient_characteristics"]}
    pseudonym = dataset.PatientID
    assert not PatientPseudonym.objects.exists()  # apply runs in the staging thread: no database
    change.settle()
    row = PatientPseudonym.objects.get()
    assert (row.pseudonym, row.patient_id, row.patient_name) == (pseudonym, series.patient_id, "TEST^API")
    # Who it is: an admin may ask (audited); an operator and an auditor may not.
    auditor = make_user("audrey")
    Account.objects.update_or_create(user=auditor, defaults={"role": Role.AUDITOR})
    assert client_user.get(f"/api/dicom/pseudonyms/{pseudonym}/").status_code == 403
    assert client_for(auditor).get(f"/api/dicom/pseudonyms/{pseudonym}/").status_code == 403
    answer = client_admin.get(f"/api/dicom/pseudonyms/{pseudonym}/")
    assert answer.status_code == 200
    assert answer.json()["patient_id"] == series.patient_id
    assert client_admin.get("/api/dicom/pseudonyms/ANON-UNKNOWN/").status_code == 404
    lookups = TransferLog.objects.filter(action=Action.PSEUDONYM_LOOKUP).order_by("id")
    assert [(entry.status, entry.details["pseudonym"]) for entry in lookups] == [
        ("success", pseudonym),
        ("failed", "ANON-UNKNOWN"),
    ]


def _with_private_block_after_the_pixels(path: Path, *, syntax: str | None = None) -> Dataset:
    """CT_small with the patient's name in a private block after its pixel data (group 7FE1), in
    ``syntax`` (None: as it is)."""
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dataset.PatientName = "Trailer^Patricia"
    dataset.PatientBirthDate = "19700101"
    dataset.OtherPatientIDs = "OTHER-ID-77"
    dataset.private_block(0x7FE1, "ACME RAW 1.0", create=True).add_new(0x10, "LO", "Trailer^Patricia")
    if syntax is not None:
        dataset.file_meta.TransferSyntaxUID = syntax
    dataset.save_as(path, enforce_file_format=True)
    return dataset


@pytest.mark.parametrize(
    ("stored", "syntax"),
    [(None, None), (None, "1.2.840.10008.1.2.4.80"), ("1.2.840.10008.1.2.1.99", None)],
    ids=["header-only", "transcoded", "deflated"],
)
def test_a_staged_copy_is_de_identified_to_its_end(tmp_path: Path, stored: str | None, syntax: str | None) -> None:
    """The elements after the pixel data go through the de-identification like the rest, and a
    deflated data set (inflated whole to be copied) loses what the de-identification removed."""
    source = tmp_path / "source.dcm"
    original = _with_private_block_after_the_pixels(source, syntax=stored)
    copy = stage_copy(
        source,
        tmp_path / "copy.dcm",
        syntax=syntax,
        edit=deid.Deidentification(key=KEY, options=frozenset({"allow_burned_in_annotation"})).apply,
    )
    raw = copy.path.read_bytes()
    if stored is not None:  # a deflated copy: look into the inflated data set
        assert str(pydicom.dcmread(copy.path).file_meta.TransferSyntaxUID) == stored
        raw = pydicom.dcmread(copy.path).to_json().encode()
    for value in (b"Trailer", b"Patricia", b"19700101", b"OTHER-ID-77"):
        assert value not in raw
    written = pydicom.dcmread(copy.path)
    assert not [element.tag for element in written if element.tag.is_private]
    assert "OtherPatientIDs" not in written and not written.get("PatientBirthDate")
    assert written.PatientIdentityRemoved == "YES"
    assert np.array_equal(written.pixel_array, original.pixel_array)
