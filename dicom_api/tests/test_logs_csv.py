"""GET /api/dicom/logs/?format=csv: the same filtered, ordered entries as a CSV attachment."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Action, Status, TransferLog
from dicom_api.tests.logs_helpers import make_entry

pytestmark = pytest.mark.django_db

URL = "/api/dicom/logs/"


def read_csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(body, newline="")))


def test_it_streams_every_field_as_an_attachment(client_user: APIClient, user: AbstractUser) -> None:
    pacs = Destination.objects.create(name="PACS", ae_title="PACS_AE", host="10.0.0.5", port=104)
    entry = make_entry(
        user,
        destination=pacs,
        patient_name='DOE^JANE, "Jr"\nsecond line',
        patient_id="PID-1",
        study_instance_uid="1.2.3",
        series_instance_uid="1.2.3.4",
        series_description="AX T1",
        modality="MR",
        instance_count=3,
        instances_sent=3,
        details={"attempts": 1},
        completed_at=datetime(2025, 3, 4, 10, 31, tzinfo=UTC),
    )
    TransferLog.objects.filter(pk=entry.pk).update(timestamp=datetime(2025, 3, 4, 10, 30, tzinfo=UTC))
    response = client_user.get(URL, {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-log-') and disposition.endswith('.csv"')
    rows = read_csv(response)
    assert rows == [
        {
            "id": str(entry.pk),
            "timestamp": "2025-03-04T10:30:00+00:00",
            "completed_at": "2025-03-04T10:31:00+00:00",
            "user_id": str(user.pk),
            "username": "alice",
            "client_address": "",
            "action": "send",
            "status": "success",
            "patient_name": 'DOE^JANE, "Jr"\nsecond line',
            "patient_id": "PID-1",
            "study_instance_uid": "1.2.3",
            "series_instance_uid": "1.2.3.4",
            "series_description": "AX T1",
            "modality": "MR",
            "instance_count": "3",
            "instances_sent": "3",
            "instances_failed": "0",
            "attempt": "0",
            "destination_id": str(pacs.pk),
            "destination_name": "PACS",
            "destination_ae_title": "PACS_AE",
            "destination_host": "10.0.0.5",
            "destination_port": "104",
            "error_message": "",
            "details": '{"attempts": 1}',
        }
    ]


def test_an_export_is_the_same_before_and_after_the_destination_is_deleted(
    client_user: APIClient, user: AbstractUser
) -> None:
    pacs = Destination.objects.create(name="PACS", ae_title="PACS_AE", host="10.0.0.5", port=104)
    make_entry(user, destination=pacs)
    pk = pacs.pk
    before = read_csv(client_user.get(URL, {"format": "csv"}))
    pacs.delete()
    assert read_csv(client_user.get(URL, {"format": "csv"})) == before
    assert before[0]["destination_id"] == str(pk)


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_escaped(
    client_user: APIClient, user: AbstractUser, prefix: str
) -> None:
    payload = f'{prefix}HYPERLINK("http://evil","x")'
    make_entry(user, patient_name=payload, error_message=f"{prefix}1+1", series_description="safe=1")
    [row] = read_csv(client_user.get(URL, {"format": "csv"}))
    assert row["patient_name"] == "'" + payload
    assert row["error_message"] == f"'{prefix}1+1"
    assert row["series_description"] == "safe=1"


def test_it_exports_the_same_filtered_and_ordered_rows_without_paging(
    client_user: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    for n in range(70):
        make_entry(user, status=Status.FAILED if n % 2 else Status.SUCCESS, patient_name=f"P{n:03d}")
    make_entry(other_user, status=Status.FAILED)
    params = {"status": "failed", "ordering": "patient_name", "page_size": 10, "page": 2}
    listed = client_user.get(URL, {**params, "page": 1, "page_size": 500}).json()
    rows = read_csv(client_user.get(URL, {**params, "format": "csv"}))
    assert len(rows) == 35 == listed["count"]
    assert [int(row["id"]) for row in rows] == [item["id"] for item in listed["results"]]
    assert [row["patient_name"] for row in rows] == sorted(row["patient_name"] for row in rows)
    assert {row["username"] for row in rows} == {"alice"}


def test_an_admin_exports_everyones_entries(
    client_admin: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    make_entry(user)
    make_entry(other_user)
    make_entry(None, action=Action.LOGIN, status=Status.FAILED, username="ghost")
    rows = read_csv(client_admin.get(URL, {"format": "csv"}))
    assert [row["username"] for row in rows] == ["ghost", "bob", "alice"]


def test_an_empty_export_has_only_the_header(client_user: APIClient, user: AbstractUser) -> None:
    response = client_user.get(URL, {"format": "csv"})
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("id,timestamp,completed_at,user_id,username")
    assert len(body.splitlines()) == 1


def test_an_invalid_filter_with_csv_answers_400_in_json(client_user: APIClient, user: AbstractUser) -> None:
    response = client_user.get(URL, {"format": "csv", "date_from": "soon"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "date_from" in response.json()


def test_csv_needs_authentication(anon_client: APIClient) -> None:
    response = anon_client.get(URL, {"format": "csv"})
    assert response.status_code == 401
    assert "detail" in response.json()


def test_one_entry_as_csv_and_anothers_is_404(
    client_user: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    mine = make_entry(user, patient_id="-1")
    theirs = make_entry(other_user)
    [row] = read_csv(client_user.get(f"{URL}{mine.pk}/", {"format": "csv"}))
    assert (row["id"], row["patient_id"]) == (str(mine.pk), "'-1")
    assert client_user.get(f"{URL}{theirs.pk}/", {"format": "csv"}).status_code == 404


def test_an_unknown_format_is_404(client_user: APIClient, user: AbstractUser) -> None:
    assert client_user.get(URL, {"format": "xlsx"}).status_code == 404
