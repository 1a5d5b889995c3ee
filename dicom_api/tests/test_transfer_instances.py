"""GET /api/dicom/transfers/{id}/instances/: the ledger, paged like the audit log."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.models import Status
from dicom_api.tests.transfers_helpers import make_ledger, make_transfer

pytestmark = pytest.mark.django_db


def test_the_owner_reads_the_ledger_in_sending_order_filtered_by_outcome(client_user: APIClient, user: User) -> None:
    log = make_transfer(user, Status.FAILED)
    rows = make_ledger(log, acknowledged=6, refused=1, unsendable=1)
    rows[6].dimse_status, rows[6].reason = 0xA700, "Refused: OutOfResources"
    rows[6].save()
    rows[7].reason = "Invalid stream"
    rows[7].save()
    everything = client_user.get(f"/api/dicom/transfers/{log.pk}/instances/")
    assert everything.status_code == 200
    body = everything.json()
    assert (body["count"], body["next"], body["previous"]) == (10, None, None)
    assert [r["outcome"] for r in body["results"]] == ["acknowledged"] * 6 + ["refused", "unsendable"] + ["pending"] * 2
    assert body["results"][0] == {
        "sop_instance_uid": rows[0].sop_instance_uid,
        "outcome": "acknowledged",
        "dimse_status": 0,
        "reason": "",
        "transcoded_from": "",
        "transcoded_to": "",
        "changes": None,
    }
    refused = client_user.get(f"/api/dicom/transfers/{log.pk}/instances/?outcome=refused").json()
    assert refused["results"] == [
        {
            "sop_instance_uid": rows[6].sop_instance_uid,
            "outcome": "refused",
            "dimse_status": 0xA700,
            "reason": "Refused: OutOfResources",
            "transcoded_from": "",
            "transcoded_to": "",
            "changes": None,
        }
    ]
    unsendable = client_user.get(f"/api/dicom/transfers/{log.pk}/instances/?outcome=unsendable").json()
    assert [r["reason"] for r in unsendable["results"]] == ["Invalid stream"]


def test_pages(client_user: APIClient, user: User) -> None:
    log = make_transfer(user, Status.SENDING, instance_count=7)
    rows = make_ledger(log, acknowledged=7)
    first = client_user.get(f"/api/dicom/transfers/{log.pk}/instances/?page_size=3").json()
    assert first["count"] == 7
    assert [r["sop_instance_uid"] for r in first["results"]] == [r.sop_instance_uid for r in rows[:3]]
    third = client_user.get(first["next"].replace("http://testserver", "")).json()
    third = client_user.get(third["next"].replace("http://testserver", "")).json()
    assert [r["sop_instance_uid"] for r in third["results"]] == [rows[6].sop_instance_uid]
    assert third["next"] is None


def test_another_users_ledger_is_404_and_an_admin_reads_any(
    client_other: APIClient, client_admin: APIClient, user: User
) -> None:
    log = make_transfer(user, Status.SUCCESS)
    make_ledger(log, acknowledged=10)
    assert client_other.get(f"/api/dicom/transfers/{log.pk}/instances/").status_code == 404
    answer = client_admin.get(f"/api/dicom/transfers/{log.pk}/instances/")
    assert answer.status_code == 200
    assert answer.json()["count"] == 10


def test_an_unknown_outcome_is_400(client_user: APIClient, user: User) -> None:
    log = make_transfer(user, Status.SUCCESS)
    response = client_user.get(f"/api/dicom/transfers/{log.pk}/instances/?outcome=lost")
    assert response.status_code == 400
    assert "outcome" in response.json()
