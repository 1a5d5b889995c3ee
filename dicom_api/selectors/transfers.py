"""Reading transfers: a caller sees their own only (admins too: the audit log shows everyone's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone

from dicom_api.models import ACTIVE_STATUSES, Action, TransferLog
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
            query.filter(Q(status__in=ACTIVE_STATUSES) | Q(completed_at__gte=recent)).order_by("id")[:STATUS_MAX_IDS]
        )
    logs = list(query.filter(pk__in=ids).order_by("id"))
    if len(logs) != len(set(ids)):
        unknown = sorted(set(ids) - {log.pk for log in logs})
        raise NotFoundError("No such transfer of yours: " + ", ".join(str(i) for i in unknown))
    return logs
