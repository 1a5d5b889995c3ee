"""The claim of a pending transfer whose destination is gone says what happened, attempt by attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from destinations.models import Destination
from dicom_api.models import Status, TransferLog
from dicom_api.services import transfer_lifecycle as lifecycle
from dicom_api.tests.transfers_helpers import make_transfer

pytestmark = pytest.mark.django_db


def claim(log: TransferLog) -> lifecycle.Claim | None:
    return lifecycle.claim(
        log.pk, token="test-claim", max_per_destination=2, stale_before=timezone.now() - timedelta(seconds=60)
    )


def test_a_destination_deleted_before_the_first_attempt_says_nothing_was_sent(user: User) -> None:
    pacs = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104)
    log = make_transfer(user, destination=pacs, destination_name="PACS")
    pacs.delete()
    assert claim(log) is None
    log.refresh_from_db()
    assert log.status == Status.FAILED
    assert log.error_message == "The destination was deleted before the transfer started; nothing was sent."
    assert log.completed_at is not None


def test_a_destination_deleted_between_attempts_names_the_attempt_that_ran(user: User) -> None:
    pacs = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104)
    # Attempt 1 ran, got 4 of 10 through and was queued again (a transient failure).
    log = make_transfer(user, destination=pacs, destination_name="PACS", attempt=1, instances_sent=4)
    pacs.delete()
    assert claim(log) is None
    log.refresh_from_db()
    assert log.status == Status.FAILED
    assert log.error_message == (
        "The destination was deleted after attempt 1 (4 of 10 instances acknowledged); no further attempt was made."
    )
    assert "before the transfer started" not in log.error_message


def test_a_destination_disabled_between_attempts_says_so(user: User) -> None:
    pacs = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104, enabled=False)
    log = make_transfer(user, destination=pacs, destination_name="PACS", attempt=2, instances_sent=0)
    assert claim(log) is None
    log.refresh_from_db()
    assert log.status == Status.FAILED
    assert log.error_message.startswith("The destination was disabled after attempt 2 (0 of 10")
