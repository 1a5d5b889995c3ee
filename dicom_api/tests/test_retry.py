"""POST /api/dicom/transfers/{id}/retry/: a new transfer of the same series and destination."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Action, ImportSession, Status, TransferLog
from dicom_api.tests.transfers_helpers import make_transfer
from testsupport.dicom_data import GeneratedSeries

pytestmark = pytest.mark.django_db


def test_retry_creates_a_new_transfer_for_the_same_series_and_destination(
    client_user: APIClient,
    user: User,
    imported: ImportSession,
    series: GeneratedSeries,
    destination: Destination,
) -> None:
    failed = make_transfer(
        user,
        Status.FAILED,
        import_session=imported,
        destination=destination,
        destination_name=destination.name,
    )
    failed.series_instance_uid = series.series_instance_uid
    failed.save()
    response = client_user.post(f"/api/dicom/transfers/{failed.pk}/retry/")
    assert response.status_code == 202
    (new,) = response.json()["transfers"]
    assert new["id"] != failed.pk
    assert (new["status"], new["series_instance_uid"], new["destination"]["id"], new["instance_count"]) == (
        "pending",
        series.series_instance_uid,
        destination.pk,
        3,
    )
    assert TransferLog.objects.get(pk=new["id"]).details["retry_of"] == failed.pk
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


def test_retry_of_a_running_transfer_is_409(client_user: APIClient, user: User) -> None:
    log = make_transfer(user, Status.SENDING)
    assert client_user.post(f"/api/dicom/transfers/{log.pk}/retry/").status_code == 409


def test_retry_after_the_import_expired_is_409(client_user: APIClient, user: User, destination: Destination) -> None:
    log = make_transfer(user, Status.FAILED, destination=destination)
    response = client_user.post(f"/api/dicom/transfers/{log.pk}/retry/")
    assert response.status_code == 409
    assert "import" in response.json()["detail"]


def test_retry_twice_makes_one_new_transfer(
    client_user: APIClient, user: User, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    failed = make_transfer(user, Status.FAILED, import_session=imported, destination=destination)
    failed.series_instance_uid = series.series_instance_uid
    failed.save()
    first = client_user.post(f"/api/dicom/transfers/{failed.pk}/retry/")
    assert first.status_code == 202
    second = client_user.post(f"/api/dicom/transfers/{failed.pk}/retry/")
    assert second.status_code == 409
    assert "already retried" in second.json()["detail"]
    assert TransferLog.objects.filter(action=Action.SEND).count() == 2


def test_retry_to_a_destination_disabled_since_is_409(
    client_user: APIClient, user: User, imported: ImportSession, series: GeneratedSeries, destination: Destination
) -> None:
    failed = make_transfer(user, Status.FAILED, import_session=imported, destination=destination)
    failed.series_instance_uid = series.series_instance_uid
    failed.save()
    destination.enabled = False
    destination.save()
    response = client_user.post(f"/api/dicom/transfers/{failed.pk}/retry/")
    assert response.status_code == 409
    assert "disabled" in response.json()["detail"]
