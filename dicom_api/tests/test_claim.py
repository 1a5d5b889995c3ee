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


def _claim_with(log: TransferLog, cap: int) -> lifecycle.Claim | None:
    return lifecycle.claim(
        log.pk, token=f"claim-{log.pk}", max_per_destination=cap, stale_before=timezone.now() - timedelta(seconds=60)
    )


@pytest.mark.parametrize(
    "cap, sending, instances, taken",
    [
        (8, [], 100, 4),  # what the destination allows
        (6, [4], 100, 2),  # fewer are free: it takes those
        (5, [1, 1, 1], 100, 2),  # the cap counts associations, not transfers
        (8, [], 25, 2),  # a short series is split less (10 instances per association at least)
        (8, [], 9, 1),
    ],
)
def test_a_claim_takes_the_free_associations_it_wants_and_records_them(
    user: User, cap: int, sending: list[int], instances: int, taken: int
) -> None:
    pacs = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104, max_associations=4)
    for associations in sending:
        make_transfer(user, Status.SENDING, destination=pacs, heartbeat_at=timezone.now(), associations=associations)
    log = make_transfer(user, destination=pacs, instance_count=instances)
    claimed = _claim_with(log, cap)
    assert claimed is not None
    log.refresh_from_db()
    assert (log.status, log.associations) == (Status.SENDING, taken)


def test_a_claim_waits_when_every_association_is_taken(user: User) -> None:
    pacs = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104, max_associations=4)
    make_transfer(user, Status.SENDING, destination=pacs, heartbeat_at=timezone.now(), associations=4)
    # A transfer whose worker died long ago holds nothing.
    make_transfer(
        user, Status.SENDING, destination=pacs, heartbeat_at=timezone.now() - timedelta(hours=1), associations=4
    )
    log = make_transfer(user, destination=pacs, instance_count=100)
    assert _claim_with(log, 4) is None
    log.refresh_from_db()
    assert log.status == Status.PENDING
    assert _claim_with(log, 5) is not None
    log.refresh_from_db()
    assert (log.status, log.associations) == (Status.SENDING, 1)


def test_after_a_busy_attempt_the_claim_takes_half_as_many(user: User) -> None:
    pacs = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104, max_associations=8)
    busy = [{"attempt": 1, "outcome": "peer_busy", "associations": 8}]
    log = make_transfer(user, destination=pacs, instance_count=200, attempt=1, details={"attempts": busy})
    assert _claim_with(log, 8) is not None
    log.refresh_from_db()
    assert log.associations == 4
    # Any other outcome (an abort, a timeout) keeps what the destination allows.
    aborted = [{"attempt": 1, "outcome": "aborted", "associations": 8}]
    other = make_transfer(user, destination=pacs, instance_count=200, attempt=1, details={"attempts": aborted})
    assert _claim_with(other, 12) is not None
    other.refresh_from_db()
    assert other.associations == 8
