"""Whether a destination accepts connections, as the workers find it, and the one probe its
waiting transfers share.

A send that finds nothing accepting connections marks its destination unreachable (since when,
and the last error). From then on one transfer at a time probes it, every ``probe_delay``
seconds (``TRANSFER_RETRY_BACKOFF`` doubling to ``TRANSFER_RETRY_BACKOFF_MAX``); the destination's
other queued transfers wait for the probe (``transfer_lifecycle.claim`` defers them, no attempt
counted) instead of each failing on its own. The first association accepted marks it reachable
and queues every transfer waiting for it at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from destinations.models import Destination
from dicom_api import queue
from dicom_api.models import Action, Status, TransferLog

logger = logging.getLogger(__name__)


def probe_due(destination: Destination, now: datetime) -> datetime | None:
    """Called under the destination's row lock by a claim. None: go ahead (it is reachable, or
    this claim is the probe, and the next probe is scheduled); else when the next probe is."""
    if destination.reachable:
        return None
    if destination.next_probe_at is not None and destination.next_probe_at > now:
        return destination.next_probe_at
    delay = _next_delay(destination.probe_delay)
    Destination.objects.filter(pk=destination.pk).update(
        next_probe_at=now + timedelta(seconds=delay), probe_delay=delay
    )
    return None


def _next_delay(previous: float) -> float:
    if previous <= 0:
        return float(settings.TRANSFER_RETRY_BACKOFF)
    return float(min(settings.TRANSFER_RETRY_BACKOFF_MAX, previous * 2))


def mark_unreachable(destination_id: int, error: str) -> datetime:
    """Nothing accepts connections there; returns when it will be probed next."""
    now = timezone.now()
    with transaction.atomic():
        destination = Destination.objects.select_for_update().filter(pk=destination_id).first()
        if destination is None:
            return now
        if destination.reachable:
            delay = _next_delay(0)
            logger.warning("destination %s: unreachable", destination_id)
            Destination.objects.filter(pk=destination_id).update(
                reachable=False,
                unreachable_since=now,
                last_error=error[:1000],
                next_probe_at=now + timedelta(seconds=delay),
                probe_delay=delay,
            )
            return now + timedelta(seconds=delay)
        Destination.objects.filter(pk=destination_id).update(last_error=error[:1000])
        return destination.next_probe_at or now


def mark_reachable(destination_id: int) -> int:
    """An association was accepted: the destination is back. Its waiting transfers are queued now;
    returns how many."""
    with transaction.atomic():
        back = Destination.objects.filter(pk=destination_id, reachable=False).update(
            reachable=True, unreachable_since=None, next_probe_at=None, probe_delay=0.0
        )
        if not back:
            return 0
        waiting = list(
            TransferLog.objects.filter(
                action=Action.SEND, destination_id=destination_id, status=Status.PENDING
            ).values_list("pk", flat=True)
        )
        TransferLog.objects.filter(pk__in=waiting).update(next_attempt_at=None)
        for pk in waiting:
            queue.enqueue_on_commit(pk)
    logger.info("destination %s: reachable again; %d waiting transfer(s) queued", destination_id, len(waiting))
    return len(waiting)
