"""POST /api/dicom/send/ for a series already delivered to a destination: 409 unless resend."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import client_for
from destinations.models import Destination
from dicom_api.models import Action, ImportSession, Status, TransferInstance, TransferLog
from dicom_api.services import transfers
from dicom_api.tests.transfers_helpers import send
from testsupport.dicom_data import GeneratedSeries, import_files


def _body(imported: ImportSession, series: GeneratedSeries, destination: Destination, **extra: Any) -> dict[str, Any]:
    return {
        "import_id": str(imported.pk),
        "series_instance_uids": [series.series_instance_uid],
        "destination_ids": [destination.pk],
        **extra,
    }


@pytest.mark.django_db
def test_the_second_send_of_a_delivered_series_is_409_naming_the_delivery_and_202_with_resend(
    client_user: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    first = send(client_user, **_body(imported, series, destination))
    assert first.status_code == 202
    (transfer_id,) = [t["id"] for t in first.json()["transfers"]]
    done = timezone.now()
    TransferLog.objects.filter(pk=transfer_id).update(status=Status.SUCCESS, completed_at=done)

    again = send(client_user, **_body(imported, series, destination))
    assert again.status_code == 409
    body = again.json()
    assert "already delivered" in body["detail"]
    assert body["already_delivered"] == [
        {
            "series_instance_uid": series.series_instance_uid,
            "destination_id": destination.pk,
            "transfer_id": transfer_id,
            "completed_at": done.isoformat(),
        }
    ]
    assert TransferLog.objects.filter(action=Action.SEND).count() == 1

    resent = send(client_user, **_body(imported, series, destination, resend=True))
    assert resent.status_code == 202
    assert TransferLog.objects.filter(action=Action.SEND).count() == 2


@pytest.mark.django_db
def test_a_send_while_the_same_one_is_on_its_way_is_409_too(
    client_user: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    assert send(client_user, **_body(imported, series, destination)).status_code == 202
    again = send(client_user, **_body(imported, series, destination))
    assert again.status_code == 409
    (entry,) = again.json()["already_delivered"]
    assert entry["completed_at"] is None
    assert "being sent" in again.json()["detail"]


@pytest.mark.django_db
def test_another_users_delivery_is_a_409_too_without_naming_their_transfer(
    client_user: APIClient,
    other_user: User,
    imported: ImportSession,
    series: GeneratedSeries,
    destination: Destination,
) -> None:
    first = send(client_user, **_body(imported, series, destination))
    (transfer_id,) = [t["id"] for t in first.json()["transfers"]]
    TransferLog.objects.filter(pk=transfer_id).update(status=Status.SUCCESS, completed_at=timezone.now())
    # Bob imported the same series himself and sends it to the same PACS.
    theirs = import_files(other_user, series.files)
    again = send(client_for(other_user), **_body(theirs, series, destination))
    assert again.status_code == 409
    (entry,) = again.json()["already_delivered"]
    assert entry["transfer_id"] is None
    assert (entry["series_instance_uid"], entry["destination_id"]) == (series.series_instance_uid, destination.pk)


@pytest.mark.django_db
def test_a_failed_send_does_not_count_as_delivered(
    client_user: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    first = send(client_user, **_body(imported, series, destination))
    TransferLog.objects.filter(pk=first.json()["transfers"][0]["id"]).update(status=Status.FAILED)
    assert send(client_user, **_body(imported, series, destination)).status_code == 202


@pytest.mark.django_db
def test_the_send_creates_the_ledger_in_sending_order(
    client_user: APIClient, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    response = send(client_user, **_body(imported, series, destination))
    (transfer_id,) = [t["id"] for t in response.json()["transfers"]]
    rows = list(
        TransferInstance.objects.filter(transfer_id=transfer_id).values_list("position", "sop_instance_uid", "outcome")
    )
    assert rows == [(number, sop, "pending") for number, sop in enumerate(series.sop_instance_uids)]


@pytest.mark.django_db(transaction=True)
def test_identical_sends_at_the_same_moment_from_separate_imports_queue_one_transfer(
    user: User, other_user: User, series: GeneratedSeries, destination: Destination, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serializes whole transactions)")
    check = transfers._refuse_if_already_sent

    def slow_check(*args: Any, **kwargs: Any) -> None:
        check(*args, **kwargs)
        time.sleep(0.3)  # widen the window between the check and the insert, where a race would slip in

    monkeypatch.setattr(transfers, "_refuse_if_already_sent", slow_check)
    # Two people imported the same study, each twice: four requests, none sharing an import.
    imports = [(owner, import_files(owner, series.files)) for owner in (user, other_user) for _ in range(2)]
    start = threading.Barrier(len(imports))
    statuses: list[int] = []

    def one(owner: User, imported: ImportSession) -> None:
        client = client_for(owner)
        start.wait()
        try:
            statuses.append(send(client, **_body(imported, series, destination)).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=pair) for pair in imports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [202, 409, 409, 409]
    assert TransferLog.objects.filter(action=Action.SEND, series_instance_uid=series.series_instance_uid).count() == 1
