"""Reading transfers: a caller sees their own only (admins too: the audit log shows everyone's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone

from dicom_api.models import ACTIVE_STATUSES, Action, Status, TransferLog
from dicom_transfer.exceptions import NotFoundError

STATUS_MAX_IDS = 500
RECENT = timedelta(hours=1)


def transfer_get_own(*, user: User, transfer_id: int) -> TransferLog:
    log = TransferLog.objects.filter(pk=transfer_id, action=Action.SEND, user=user).first()
    if log is None:
        raise NotFoundError("No such transfer of yours.")
    return log


def transfers_status(*, user: User, ids: Sequence[int] | None) -> list[TransferLog]:
    """The transfers ``ids`` (each must be the caller's), or the caller's active and recent ones."""
    query = TransferLog.objects.filter(action=Action.SEND, user=user)
    if ids is None:
        recent = timezone.now() - RECENT
        return list(
            query.filter(Q(status__in=ACTIVE_STATUSES) | Q(completed_at__gte=recent))
            .select_related("destination")
            .order_by("id")[:STATUS_MAX_IDS]
        )
    logs = list(query.filter(pk__in=ids).select_related("destination").order_by("id"))
    if len(logs) != len(set(ids)):
        unknown = sorted(set(ids) - {log.pk for log in logs})
        raise NotFoundError("No such transfer of yours: " + ", ".join(str(i) for i in unknown))
    return logs


def transfer_retry_blocker(log: TransferLog) -> str | None:
    """Why ``transfer_retry`` would refuse this transfer, in words; None when a retry is possible.

    The service's checks, read without a lock, so a page offers Retry only where it can work.
    """
    if log.status not in (Status.FAILED, Status.CANCELLED):
        return f"Only a failed or cancelled transfer can be retried; this one is {log.status}."
    retried_by = (log.details or {}).get("retried_by")
    if retried_by:
        return f"Already retried as transfer {retried_by}."
    if log.import_session_id is None:
        return "Its import has expired or was deleted; import the files again."
    if log.destination_id is None or log.destination is None:
        return f"The destination {log.destination_name!r} was deleted."
    if not log.destination.enabled:
        return f"The destination {log.destination_name!r} is disabled by an administrator."
    return None
