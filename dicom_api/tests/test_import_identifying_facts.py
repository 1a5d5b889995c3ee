"""The facts staff confirm a patient and a series by, in the import's answer: birth date and sex per
patient; time, referring physician and institution per study; date, time and body part per series."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from testsupport.dicom_data import instance, upload

# Some tests write damaged values on purpose; pydicom warns as it writes them.
pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:Invalid value for VR")]

FACTS = {
    "PatientBirthDate": "19610412",
    "PatientSex": "F",
    "StudyTime": "143005.123456",
    "ReferringPhysicianName": "House^Gregory^^Dr",
    "InstitutionName": "St. Mary's Hospital",
    "SeriesDate": "20240131",
    "SeriesTime": "1431",
    "BodyPartExamined": "CHEST",
}


def post(client: APIClient, files: dict[str, bytes]) -> dict[str, Any]:
    response = client.post(
        "/api/dicom/import/", {"files": [upload(n, b) for n, b in files.items()]}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_the_answer_and_the_detail_carry_the_facts(client_user: APIClient) -> None:
    created = post(client_user, {f"{n}.dcm": instance(instance_number=n, **FACTS) for n in (1, 2)})
    (patient,) = created["patients"]
    assert patient["patient_birth_date"] == "1961-04-12"
    assert patient["patient_sex"] == "F"
    (study,) = patient["studies"]
    assert study["study_time"] == "14:30:05"
    assert study["referring_physician_name"] == "House^Gregory^^Dr"
    assert study["institution_name"] == "St. Mary's Hospital"
    (series,) = study["series"]
    assert series["series_date"] == "2024-01-31"
    assert series["series_time"] == "14:31:00"
    assert series["body_part_examined"] == "CHEST"
    assert client_user.get(f"/api/dicom/imports/{created['import_id']}/").json() == created


def test_absent_facts_are_null_or_empty(client_user: APIClient) -> None:
    (patient,) = post(client_user, {"a.dcm": instance()})["patients"]
    assert (patient["patient_birth_date"], patient["patient_sex"]) == (None, "")
    (study,) = patient["studies"]
    assert (study["study_time"], study["referring_physician_name"], study["institution_name"]) == (None, "", "")
    (series,) = study["series"]
    assert (series["series_date"], series["series_time"], series["body_part_examined"]) == (None, None, "")


@pytest.mark.parametrize(
    ("stored", "answered"),
    [("07", "07:00:00"), ("0745", "07:45:00"), ("07:45:10", "07:45:10"), ("235960", "23:59:59"), ("2500", None)],
)
def test_times_are_read_as_dicom_writes_them(client_user: APIClient, stored: str, answered: str | None) -> None:
    created = post(client_user, {"a.dcm": instance(StudyTime=stored)})
    assert created["patients"][0]["studies"][0]["study_time"] == answered


def test_a_damaged_fact_is_null_and_the_instance_still_imports(client_user: APIClient) -> None:
    created = post(client_user, {"a.dcm": instance(PatientBirthDate="19611332", SeriesTime="ab")})
    assert created["instance_count"] == 1
    patient = created["patients"][0]
    assert patient["patient_birth_date"] is None
    assert patient["studies"][0]["series"][0]["series_time"] is None


def test_an_instance_without_a_fact_hides_nothing_of_its_series(client_user: APIClient) -> None:
    """Within a group, an empty value never wins over a present one; of two values, the least."""
    files = {
        "1.dcm": instance(instance_number=1),
        "2.dcm": instance(instance_number=2, PatientSex="M", BodyPartExamined="HEAD", InstitutionName="B Clinic"),
        "3.dcm": instance(instance_number=3, PatientSex="M", BodyPartExamined="HEAD", InstitutionName="A Clinic"),
    }
    (patient,) = post(client_user, files)["patients"]
    assert patient["patient_sex"] == "M"
    assert patient["studies"][0]["institution_name"] == "A Clinic"
    assert patient["studies"][0]["series"][0]["body_part_examined"] == "HEAD"


def test_study_facts_gather_every_series_of_the_study(client_user: APIClient) -> None:
    files = {
        "ct.dcm": instance(series_instance_uid="1.2.3.4.1", series_number=1, BodyPartExamined="CHEST"),
        "mr.dcm": instance(
            series_instance_uid="1.2.3.4.2",
            series_number=2,
            ReferringPhysicianName="Grey^Meredith",
            SeriesDate="20240201",
        ),
    }
    (patient,) = post(client_user, files)["patients"]
    (study,) = patient["studies"]
    assert study["referring_physician_name"] == "Grey^Meredith"
    first, second = study["series"]
    assert (first["body_part_examined"], first["series_date"]) == ("CHEST", None)
    assert (second["body_part_examined"], second["series_date"]) == ("", "2024-02-01")


def test_a_study_answers_the_same_whatever_the_order_of_its_series(client_user: APIClient) -> None:
    """The study's date, description and accession are the least non-empty of its series' values,
    not those of whichever series the database lists first."""
    files = {
        f"{n}.dcm": instance(
            series_instance_uid=f"1.2.3.4.{n}",
            series_number=n,
            StudyDescription=description,
            AccessionNumber=accession,
            StudyDate=date,
        )
        for n, description, accession, date in [
            (1, "Thorax", "", "20240202"),
            (2, "", "ACC-9", "20240201"),
            (3, "Abdomen", "ACC-7", ""),
        ]
    }
    (study,) = post(client_user, files)["patients"][0]["studies"]
    assert (study["study_description"], study["accession_number"], study["study_date"]) == (
        "Abdomen",
        "ACC-7",
        "2024-02-01",
    )
