"""A transfer's life: every change of a ``send`` row's state, and nothing else.

State machine of a transfer (one ``TransferLog`` with action ``send``)::

                 ┌──────────── requeue (transient failure: same row, later attempt) ───────────┐
                 ▼                                                                              │
    /send/ ──▶ pending ──claim──▶ sending ──finish──▶ success                                   │
                 │                 │  │   └─finish──▶ failed   (permanent failure, a damaged    │
                 │                 │  │                         file, the retry window ended)   │
                 │                 │  └──────────────────────────────────────────────────────────┘
                 │                 ├─recover─▶ pending, or failed after the last attempt
                 │                 │           (its worker stopped beating: SIGKILL, power)
                 │                 └─release─▶ pending, queued at once, the attempt not counted
                 │                             (its worker was asked to stop: SIGTERM, SIGINT)
                 ├─claim─▶ failed  (the destination was deleted or disabled before the claim, or
                 │                  stayed unreachable for the whole retry window)
                 ├─wait──▶ pending (its destination is unreachable: queued again for the next probe,
                 │                  no attempt counted)
                 └─cancel─▶ cancelled ◀─cancel─ sending

A transfer's ``verification`` (a C-FIND after a success) and its ledger are records on the
row, not states: ``services/verification.py`` and ``services/transfer_ledger.py`` write them.

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
from dicom_api.models import ACTIVE_STATUSES, DELIVERED, Action, Status, TransferInstance, TransferLog
from dicom_api.services import reachability

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """A transfer this worker now sends, to the destination as it was at the claim."""

    log: TransferLog
    destination: Destination
    token: str


def _sending(log_id: int, token: str) -> Any:
    return TransferLog.objects.filter(pk=log_id, status=Status.SENDING, claim_token=token)


def claim(
    log_id: int, *, token: str, max_per_destination: int, stale_before: datetime, retry_for: float = float("inf")
) -> Claim | None:
    """pending → sending, if the destination has a free association slot and is reachable (or this
    claim is its probe). None: not ours to run now.

    The row's destination snapshot is refreshed to the destination as it is now: that is the one
    this attempt contacts (an admin may have edited it since the request). What the ledger says
    was delivered already is this attempt's starting point (it sends only the rest).
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
        now = timezone.now()
        probe_at = reachability.probe_due(destination, now)
        if probe_at is not None:
            _wait_for_probe(log, destination, probe_at, now=now, retry_for=retry_for)
            return None
        if not destination.reachable:
            destination.refresh_from_db()  # this claim is the probe: with the next one scheduled
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
        delivered = TransferInstance.objects.filter(transfer_id=log.pk, outcome__in=DELIVERED).count()
        now = timezone.now()
        # The first claim ends the transfer's wait in the queue (the metrics' and dashboard's).
        first = {} if log.started_at else {"started_at": now, "queue_seconds": (now - log.timestamp).total_seconds()}
        won = TransferLog.objects.filter(pk=log.pk, status=Status.PENDING).update(
            status=Status.SENDING,
            attempt=F("attempt") + 1,
            heartbeat_at=now,
            **first,
            claim_token=token[:64],
            instances_sent=delivered,
            instances_already_delivered=delivered,
            instances_failed=0,
            next_attempt_at=None,
            error_message="",
            **snapshot,
        )
        if not won:
            return None
        log.refresh_from_db()
        return Claim(log=log, destination=destination, token=token)


def _wait_for_probe(
    log: TransferLog, destination: Destination, probe_at: datetime, *, now: datetime, retry_for: float
) -> None:
    """pending → pending until the destination's next probe (no attempt counted), or failed once
    the retry window is over."""
    since = (
        destination.unreachable_since.isoformat(sep=" ", timespec="seconds") if destination.unreachable_since else "?"
    )
    if (probe_at - log.timestamp).total_seconds() > retry_for:
        _fail_pending(
            log,
            f"The destination has not accepted connections since {since} ({destination.last_error}); "
            f"gave up after {retry_for / 3600:g} h.",
        )
        return
    TransferLog.objects.filter(pk=log.pk, status=Status.PENDING).update(
        next_attempt_at=probe_at,
        error_message=f"Waiting: the destination has not accepted connections since {since} "
        f"({destination.last_error}). It is tried again at {_when(probe_at)}.",
    )
    # Just after the probe: by then it has answered, or the next probe is scheduled.
    queue.enqueue_on_commit(log.pk, delay=(probe_at - now).total_seconds() + 0.5 + random.random())


def _when(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


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


def finish(
    log_id: int, *, token: str, status: Status, message: str, started_at: datetime | None = None, **fields: Any
) -> bool:
    """sending → success or failed, by the claim that owns it; ``started_at`` (the first claim)
    gives the transfer's send time."""
    assert status in (Status.SUCCESS, Status.FAILED)
    now = timezone.now()
    return bool(
        _sending(log_id, token).update(
            status=status, error_message=message, completed_at=now, send_seconds=_since(started_at, now), **fields
        )
    )


def _since(started_at: datetime | None, now: datetime) -> float | None:
    return None if started_at is None else max(0.0, (now - started_at).total_seconds())


def requeue(log_id: int, *, token: str, message: str, delay: float, **fields: Any) -> bool:
    """sending → pending, run again by a new job after ``delay`` seconds (a transient failure)."""
    with transaction.atomic():
        won = bool(
            _sending(log_id, token).update(
                status=Status.PENDING,
                error_message=message,
                completed_at=None,
                claim_token="",
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
                **fields,
            )
        )
        if won:
            queue.enqueue_on_commit(log_id, delay=delay)
    return won


def release(log_id: int, *, token: str, message: str, **fields: Any) -> bool:
    """sending → pending, queued at once, this attempt not counted: the worker was asked to stop
    (its ledger is saved; the next worker sends the rest)."""
    with transaction.atomic():
        won = bool(
            _sending(log_id, token).update(
                status=Status.PENDING,
                attempt=F("attempt") - 1,
                error_message=message,
                completed_at=None,
                claim_token="",
                next_attempt_at=None,
                **fields,
            )
        )
        if won:
            queue.enqueue_on_commit(log_id)
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
        now = timezone.now()
        failed = {"completed_at": now, "send_seconds": _since(log.started_at, now)}
        if seen.update(status=Status.FAILED, error_message=message, details=details, **failed):
            return Status.FAILED
    return None


def stale_before(stale_after: float) -> datetime:
    return timezone.now() - timedelta(seconds=stale_after)
