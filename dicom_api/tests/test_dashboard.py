"""``GET /api/dicom/dashboard/``: per destination over a window, aggregated in the database."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from authentication.models import Account, Role
from conftest import client_for
from dicom_api.models import Status, TransferLog
from dicom_api.selectors.dashboard import send_time_percentiles, send_time_percentiles_ranked
from dicom_api.tests.transfers_helpers import make_transfer

pytestmark = pytest.mark.django_db

URL = "/api/dicom/dashboard/"
PATIENT = {"patient_name": "DASHBOARD^SECRET", "patient_id": "PID-DASH-1"}


def finished(owner: User, name: str, status: Status, *, hours_ago: float, send: float | None, **fields: Any) -> None:
    log = make_transfer(owner, status, destination_name=name, send_seconds=send, **PATIENT, **fields)
    TransferLog.objects.filter(pk=log.pk).update(completed_at=timezone.now() - timedelta(hours=hours_ago))


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["destination"]: row for row in body["destinations"]}


def test_the_dashboard_counts_and_times_each_destinations_transfers_of_the_window(
    user: User, client_admin: APIClient, django_assert_max_num_queries: Any
) -> None:
    for seconds in range(1, 11):  # send times 1..10 s: median 5.5, p95 9.55 (percentile_cont)
        finished(user, "PACS A", Status.SUCCESS, hours_ago=1, send=float(seconds), instances_sent=10, byte_count=100)
    finished(user, "PACS A", Status.FAILED, hours_ago=2, send=100.0, instances_sent=3, byte_count=30)
    finished(user, "PACS A", Status.CANCELLED, hours_ago=2, send=None, instances_sent=1, byte_count=10)
    finished(user, "PACS A", Status.SUCCESS, hours_ago=30, send=1000.0, instances_sent=10, byte_count=100)
    finished(user, "Archive", Status.FAILED, hours_ago=100, send=7.0)
    finished(user, "Archive", Status.SUCCESS, hours_ago=200, send=1.0)  # older than 7 days
    waiting = make_transfer(user, Status.PENDING, destination_name="Archive", **PATIENT)
    TransferLog.objects.filter(pk=waiting.pk).update(timestamp=timezone.now() - timedelta(minutes=10))
    make_transfer(user, Status.SENDING, destination_name="PACS A")

    with django_assert_max_num_queries(10):
        response = client_admin.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["window"] == "24h"
    assert body["bucket"] == "hour"
    rows = by_name(body)
    a = rows["PACS A"]
    assert (a["succeeded"], a["failed"], a["cancelled"]) == (10, 1, 1)
    assert (a["instances_sent"], a["bytes_sent"]) == (104, 1040)
    # Percentiles over the 11 successes and failures: 1..10 and 100.
    assert a["send_seconds_median"] == pytest.approx(6.0)
    assert a["send_seconds_p95"] == pytest.approx(10 + 0.5 * 90)
    assert (a["pending"], a["sending"], a["oldest_pending_seconds"]) == (0, 1, 0)
    archive = rows["Archive"]
    assert (archive["succeeded"], archive["failed"], archive["send_seconds_median"]) == (0, 0, None)
    assert archive["pending"] == 1
    assert 599 <= archive["oldest_pending_seconds"] < 700
    assert len(body["timeline"]) in (24, 25)
    assert sum(point["succeeded"] for point in body["timeline"]) == 10
    assert sum(point["failed"] for point in body["timeline"]) == 1
    assert "DASHBOARD^SECRET" not in response.content.decode()
    assert "PID-DASH-1" not in response.content.decode()

    week = by_name(client_admin.get(URL, {"window": "7d"}).json())
    assert (week["PACS A"]["succeeded"], week["Archive"]["failed"], week["Archive"]["succeeded"]) == (11, 1, 0)
    assert week["Archive"]["send_seconds_median"] == pytest.approx(7.0)
    assert week["Archive"]["send_seconds_p95"] == pytest.approx(7.0)


def test_the_ranked_percentiles_of_sqlite_equal_postgresqls_percentile_cont(user: User) -> None:
    draw = random.Random(19)
    for name, count in (("one", 1), ("two", 2), ("many", 137)):
        for _ in range(count):
            finished(user, name, Status.SUCCESS, hours_ago=draw.uniform(0, 20), send=round(draw.expovariate(0.1), 3))
    since = timezone.now() - timedelta(hours=24)
    exact, ranked = send_time_percentiles(since), send_time_percentiles_ranked(since)
    assert set(exact) == set(ranked) == {"one", "two", "many"}
    for name in exact:
        assert ranked[name] == pytest.approx(exact[name])


def test_a_configured_destination_with_no_transfer_is_listed_with_zeros(
    client_admin: APIClient, make_destination: Any
) -> None:
    make_destination("Quiet")
    row = by_name(client_admin.get(URL).json())["Quiet"]
    assert (row["succeeded"], row["pending"], row["send_seconds_p95"]) == (0, 0, None)


def test_an_auditor_reads_the_dashboard(make_user: Any) -> None:
    auditor = make_user("audrey")
    Account.objects.update_or_create(user=auditor, defaults={"role": Role.AUDITOR})
    assert client_for(auditor).get(URL).status_code == 200


def test_an_operator_is_refused_the_dashboard(client_user: APIClient) -> None:
    response = client_user.get(URL)
    assert response.status_code == 403
    assert response.json()["detail"] == "Only administrators and auditors can see this."


def test_the_dashboard_needs_a_sign_in(anon_client: APIClient) -> None:
    assert anon_client.get(URL).status_code == 401


def test_an_unknown_window_is_refused(client_admin: APIClient) -> None:
    response = client_admin.get(URL, {"window": "1y"})
    assert response.status_code == 400
    assert "window must be one of 24h, 7d" in response.json()["detail"]


def test_the_dashboard_is_read_only(client_admin: APIClient) -> None:
    assert client_admin.post(URL, {}).status_code == 405
