"""A transfer's life: every change of a ``send`` row's state, and nothing else.

State machine of a transfer (one ``TransferLog`` with action ``send``)::

                 ┌──────────── requeue (transient failure: same row, later attempt) ───────────┐
                 ▼                                                                              │
    /send/ ──▶ pending ──claim──▶ sending ──finish──▶ success                                   │
                 │                 │  │   └─finish──▶ failed   (permanent failure, or the last  │
                 │                 │  │                         attempt failed)                 │
                 │                 │  └──────────────────────────────────────────────────────────┘
                 │                 └─recover─▶ pending, or failed after the last attempt
                 │                             (its worker stopped beating)
                 ├─claim─▶ failed  (the destination was deleted or disabled before the claim)
                 └─cancel─▶ cancelled ◀─cancel─ sending

Two words, two mechanisms: a *requeue* runs the same row again (an automatic later attempt); a
*retry* (``transfer_retry``, the API's Retry) is a new transfer that links to the old one.

Every transition is one conditional ``UPDATE`` (``WHERE status = ...`` and, while sending, the
claim's token) that returns whether it won, so a web process and any number of workers race
safely: a worker whose claim was taken over or cancelled finds that it lost and stops.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from destinations.models import Destination
from dicom_api import queue
from dicom_api.audit import destination_snapshot
from dicom_api.models import ACTIVE_STATUSES, Action, Status, TransferLog

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """A transfer this worker now sends, to the destination as it was at the claim."""

    log: TransferLog
    destination: Destination
    token: str


def _sending(log_id: int, token: str) -> Any:
    return TransferLog.objects.filter(pk=log_id, status=Status.SENDING, claim_token=token)


def claim(log_id: int, *, token: str, max_per_destination: int, stale_before: datetime) -> Claim | None:
    """pending → sending, if the destination has a free association slot. None: not ours to run.

    The row's destination snapshot is refreshed to the destination as it is now: that is the one
    this attempt contacts (an admin may have edited it since the request).
    """
    with transaction.atomic():
        log = TransferLog.objects.select_for_update().filter(pk=log_id, action=Action.SEND).first()
        if log is None or log.status != Status.PENDING:
            return None
        destination = None
        if log.destination_id is not None:
            destination = Destination.objects.select_for_update().filter(pk=log.destination_id).first()
        if destination is None or not destination.enabled:
            _fail_pending(log, _gone_message(log, "deleted" if destination is None else "disabled"))
            return None
        busy = TransferLog.objects.filter(
            destination_id=destination.pk, status=Status.SENDING, heartbeat_at__gte=stale_before
        ).count()
        if busy >= max_per_destination:
            # Every slot of this destination is taken: look again later, the later the more
            # transfers wait for it (so a long queue does not turn into a busy poll of the database).
            waiting = TransferLog.objects.filter(destination_id=destination.pk, status=Status.PENDING).count()
            queue.enqueue_on_commit(log.pk, delay=min(10.0, 0.5 + 0.05 * waiting) * (1 + random.random()))
            return None
        snapshot = {key: value for key, value in destination_snapshot(destination).items() if key != "destination"}
        won = TransferLog.objects.filter(pk=log.pk, status=Status.PENDING).update(
            status=Status.SENDING,
            attempt=F("attempt") + 1,
            heartbeat_at=timezone.now(),
            claim_token=token[:64],
            instances_sent=0,
            instances_failed=0,
            error_message="",
            **snapshot,
        )
        if not won:
            return None
        log.refresh_from_db()
        return Claim(log=log, destination=destination, token=token)


def _gone_message(log: TransferLog, what: str) -> str:
    """Why a pending transfer stops at its claim: before any attempt, or between two."""
    if log.attempt == 0:
        return f"The destination was {what} before the transfer started; nothing was sent."
    return (
        f"The destination was {what} after attempt {log.attempt} ({log.instances_sent} of "
        f"{log.instance_count} instances acknowledged); no further attempt was made."
    )


def _fail_pending(log: TransferLog, message: str) -> bool:
    return bool(
        TransferLog.objects.filter(pk=log.pk, status=Status.PENDING).update(
            status=Status.FAILED, error_message=message, completed_at=timezone.now()
        )
    )


def save_progress(log_id: int, *, token: str, counts: dict[str, int] | None = None) -> bool:
    """The heartbeat of a sending transfer, with its counts when they changed. False: the transfer
    was cancelled or taken over; the sender must stop."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now(), **(counts or {})}
    return bool(_sending(log_id, token).update(**fields))


def finish(log_id: int, *, token: str, status: Status, message: str, **fields: Any) -> bool:
    """sending → success or failed, by the claim that owns it."""
    assert status in (Status.SUCCESS, Status.FAILED)
    return bool(
        _sending(log_id, token).update(status=status, error_message=message, completed_at=timezone.now(), **fields)
    )


def requeue(log_id: int, *, token: str, message: str, delay: float, **fields: Any) -> bool:
    """sending → pending, run again by a new job after ``delay`` seconds (a transient failure)."""
    with transaction.atomic():
        won = bool(
            _sending(log_id, token).update(
                status=Status.PENDING, error_message=message, completed_at=None, claim_token="", **fields
            )
        )
        if won:
            queue.enqueue_on_commit(log_id, delay=delay)
    return won


def cancel(log_id: int) -> bool:
    """pending or sending → cancelled. A worker sending it loses its claim and stops dcmsend."""
    return bool(
        TransferLog.objects.filter(pk=log_id, status__in=ACTIVE_STATUSES).update(
            status=Status.CANCELLED, completed_at=timezone.now(), error_message="Cancelled by the user."
        )
    )


def annotate_cancelled(log_id: int, **fields: Any) -> bool:
    """Record on a cancelled transfer what its last attempt got through (not a transition). A
    retry of it may have been recorded meanwhile: that row is left alone then."""
    return bool(
        TransferLog.objects.filter(pk=log_id, status=Status.CANCELLED)
        .exclude(details__has_key="retried_by")
        .update(**fields)
    )


def recover(log: TransferLog, *, max_attempts: int, attempt_entry: dict[str, Any]) -> Status | None:
    """sending (its worker silent) → pending again, or failed after the last attempt.

    Conditional on the claim and the heartbeat seen by the caller: a worker that beat meanwhile
    keeps its transfer. Returns the new status, or None when the transfer was not recovered.
    """
    message = f"The worker sending this transfer stopped responding (attempt {log.attempt} of {max_attempts})."
    details = dict(log.details or {})
    details["attempts"] = [*details.get("attempts", []), attempt_entry]
    seen = TransferLog.objects.filter(
        pk=log.pk, status=Status.SENDING, claim_token=log.claim_token, heartbeat_at=log.heartbeat_at
    )
    with transaction.atomic():
        if log.attempt < max_attempts:
            if seen.update(
                status=Status.PENDING, error_message=message + " Queued again.", details=details, claim_token=""
            ):
                queue.enqueue_on_commit(log.pk)
                return Status.PENDING
            return None
        if seen.update(status=Status.FAILED, error_message=message, details=details, completed_at=timezone.now()):
            return Status.FAILED
    return None


def stale_before(stale_after: float) -> datetime:
    return timezone.now() - timedelta(seconds=stale_after)
