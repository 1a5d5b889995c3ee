"""GET /api/dicom/status/: what a page needs to group transfers by request and study, and to offer
Retry only where it works."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Status, TransferLog
from dicom_api.tests.transfers_helpers import make_transfer, send
from testsupport.dicom_data import generate_series, import_files

pytestmark = pytest.mark.django_db


def status_of(client: APIClient, *ids: int) -> dict[int, dict[str, object]]:
    response = client.get("/api/dicom/status/?ids=" + ",".join(str(i) for i in ids))
    assert response.status_code == 200
    return {t["id"]: t for t in response.json()["transfers"]}


def test_transfers_of_one_send_share_a_request_and_carry_their_study_and_series(
    client_user: APIClient, user: User, destination: Destination, tmp_path: Path
) -> None:
    head = generate_series(
        tmp_path / "a",
        2,
        series_number=3,
        description="FAST LOCALIZER",
        study_description="MR HEAD",
        study_date="20261130",
        modality="MR",
    )
    neck = generate_series(
        tmp_path / "b",
        1,
        series_number=7,
        study_instance_uid=head.study_instance_uid,
        study_description="MR HEAD",
        study_date="20261130",
        modality="MR",
    )
    imported = import_files(user, head.files + neck.files)
    first = send(
        client_user,
        import_id=str(imported.pk),
        series_instance_uids=[head.series_instance_uid, neck.series_instance_uid],
        destination_ids=[destination.pk],
    ).json()["transfers"]
    again = send(
        client_user,
        import_id=str(imported.pk),
        series_instance_uids=[neck.series_instance_uid],
        destination_ids=[destination.pk],
    ).json()["transfers"]
    answer = status_of(client_user, *(t["id"] for t in first + again))
    a, b, c = (answer[t["id"]] for t in first + again)
    assert (a["study_instance_uid"], a["study_description"], a["study_date"], a["series_number"]) == (
        head.study_instance_uid,
        "MR HEAD",
        "2026-11-30",
        3,
    )
    assert (b["series_number"], b["study_description"]) == (7, "MR HEAD")
    assert a["send_request"] and a["send_request"] == b["send_request"]
    assert c["send_request"] and c["send_request"] != a["send_request"]
    assert (a["can_retry"], a["retry_blocked_because"], a["retry_of"], a["retried_by"]) == (
        False,
        "Only a failed or cancelled transfer can be retried; this one is pending.",
        None,
        None,
    )


def test_a_retry_stays_in_its_request_and_the_original_can_no_longer_be_retried(
    client_user: APIClient, user: User, destination: Destination, tmp_path: Path
) -> None:
    series = generate_series(tmp_path / "s", 2)
    imported = import_files(user, series.files)
    (queued,) = send(
        client_user,
        import_id=str(imported.pk),
        series_instance_uids=[series.series_instance_uid],
        destination_ids=[destination.pk],
    ).json()["transfers"]
    TransferLog.objects.filter(pk=queued["id"]).update(status=Status.FAILED)
    before = status_of(client_user, queued["id"])[queued["id"]]
    assert (before["can_retry"], before["retry_blocked_because"]) == (True, "")
    (retry,) = client_user.post(f"/api/dicom/transfers/{queued['id']}/retry/").json()["transfers"]
    answer = status_of(client_user, queued["id"], retry["id"])
    old, new = answer[queued["id"]], answer[retry["id"]]
    assert (old["can_retry"], old["retried_by"]) == (False, retry["id"])
    assert old["retry_blocked_because"] == f"Already retried as transfer {retry['id']}."
    assert (new["retry_of"], new["send_request"]) == (queued["id"], old["send_request"])


def test_no_retry_once_the_destination_or_the_import_is_gone(
    client_user: APIClient, user: User, destination: Destination, tmp_path: Path
) -> None:
    series = generate_series(tmp_path / "s", 1)
    imported = import_files(user, series.files)
    kept = Destination.objects.create(name="Kept", ae_title="KEPT", host="127.0.0.1", port=104, enabled=False)
    deleted = make_transfer(
        user, Status.FAILED, import_session=imported, destination=destination, destination_name="PACS"
    )
    disabled = make_transfer(user, Status.FAILED, import_session=imported, destination=kept, destination_name="Kept")
    expired = make_transfer(user, Status.CANCELLED, destination=kept, destination_name="Kept")
    destination.delete()
    answer = status_of(client_user, deleted.pk, disabled.pk, expired.pk)
    assert answer[deleted.pk]["destination"] == {"id": None, "name": "PACS"}
    assert (answer[deleted.pk]["can_retry"], answer[deleted.pk]["retry_blocked_because"]) == (
        False,
        "The destination 'PACS' was deleted.",
    )
    assert answer[disabled.pk]["retry_blocked_because"] == "The destination 'Kept' is disabled by an administrator."
    assert answer[expired.pk]["retry_blocked_because"].startswith("Its import has expired")
    # What the page is told matches what Retry answers.
    refused = client_user.post(f"/api/dicom/transfers/{deleted.pk}/retry/")
    assert refused.status_code == 409


def test_status_does_not_query_per_transfer(
    client_user: APIClient, user: User, destination: Destination, django_assert_max_num_queries: object
) -> None:
    ids = [make_transfer(user, Status.FAILED, destination=destination).pk for _ in range(20)]
    with django_assert_max_num_queries(4):  # type: ignore[operator]
        assert len(status_of(client_user, *ids)) == 20
