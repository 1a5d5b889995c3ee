"""POST /api/dicom/transfers/{id}/cancel/."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Status, TransferLog
from dicom_api.tests.transfers_helpers import make_transfer

pytestmark = pytest.mark.django_db


def test_cancel_a_pending_transfer(client_user: APIClient, user: User) -> None:
    log = make_transfer(user, Status.PENDING)
    response = client_user.post(f"/api/dicom/transfers/{log.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    log.refresh_from_db()
    assert log.status == Status.CANCELLED
    assert log.completed_at is not None


def test_cancel_a_finished_transfer_is_409(client_user: APIClient, user: User) -> None:
    log = make_transfer(user, Status.SUCCESS, completed_at=timezone.now())
    response = client_user.post(f"/api/dicom/transfers/{log.pk}/cancel/")
    assert response.status_code == 409
    assert "finished" in response.json()["detail"]
    log.refresh_from_db()
    assert log.status == Status.SUCCESS


def test_a_send_that_completed_as_the_user_cancelled_says_so(user: User, destination: Destination) -> None:
    from dicom_api.services.transfer_lifecycle import Claim
    from dicom_api.services.transfer_run import outcome_of, outcome_record
    from dicomnet.dcmsend import SendReport

    log = make_transfer(user, Status.SENDING, attempt=1, claim_token="w:1:abc")
    claimed = Claim(log=log, destination=destination, token="w:1:abc")
    TransferLog.objects.filter(pk=log.pk).update(status=Status.CANCELLED, error_message="Cancelled by the user.")
    # The attempt ends after the cancel: every instance had been acknowledged.
    outcome_record(claimed, outcome_of(log, SendReport(total=10, acknowledged=10), claimed))
    log.refresh_from_db()
    assert (log.status, log.instances_sent) == ("cancelled", 10)
    assert "all 10 instances had already been stored" in log.error_message
    assert log.details["attempts"][-1]["outcome"] == "success"
