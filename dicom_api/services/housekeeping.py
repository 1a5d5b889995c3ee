"""Housekeeping: named jobs that keep the system tidy and transfers moving.

Every worker's heartbeat thread runs them all every ``HOUSEKEEPING_INTERVAL``
(``run_housekeeping``), so no operator's cron is needed; ``manage.py housekeeping`` runs them (or
one of them, ``--only NAME``) on demand. Each is safe to run from several processes at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from authentication.housekeeping import sign_ins_prune
from dicom_api import queue
from dicom_api.models import Action, Status, TransferLog, WorkerHeartbeat
from dicom_api.services import import_sweeps, staging, syntax_policy
from dicom_api.services import transfer_lifecycle as lifecycle

logger = logging.getLogger(__name__)


def transfers_recover_stale() -> int:
    """Sending transfers whose worker stopped beating: queue them again, or fail them."""
    recovered = 0
    stale = TransferLog.objects.filter(action=Action.SEND, status=Status.SENDING).filter(
        Q(heartbeat_at__lt=lifecycle.stale_before(settings.TRANSFER_STALE_AFTER)) | Q(heartbeat_at__isnull=True)
    )
    for log in stale:
        entry = {
            "attempt": log.attempt,
            "worker": log.claim_token,
            "outcome": "worker_lost",
            "finished_at": timezone.now().isoformat(),
        }
        if lifecycle.recover(log, max_attempts=settings.TRANSFER_MAX_ATTEMPTS, attempt_entry=entry) is not None:
            recovered += 1
            logger.warning("transfer %s: claim %s lost; recovered", log.pk, log.claim_token)
    return recovered


def transfers_requeue_lost(*, older_than: float = 60.0) -> int:
    """Pending transfers that no queued job will ever run (the web process died between its commit
    and the enqueue, or the job's worker died): queue them again.

    Several workers run this at once: each lost row is locked (``skip_locked``) by the one that
    queues it, and the queue is read after the lock, so one transfer is never queued twice.
    """
    now = timezone.now()
    live_workers = set(
        WorkerHeartbeat.objects.filter(last_seen__gte=now - timedelta(seconds=settings.WORKER_STALE_AFTER)).values_list(
            "worker_id", flat=True
        )
    )
    queue.fail_jobs_of_dead_workers(live_workers=live_workers, started_before=now - timedelta(seconds=older_than))
    requeued = 0
    with transaction.atomic():
        lost = list(
            TransferLog.objects.select_for_update(skip_locked=True)
            .filter(action=Action.SEND, status=Status.PENDING, timestamp__lt=now - timedelta(seconds=older_than))
            .values_list("pk", flat=True)
        )
        if not lost:
            return 0
        waiting = queue.queued_transfer_ids()
        for pk in lost:
            if pk not in waiting:
                queue.enqueue(pk)  # inside the transaction: committed with the lock's release
                requeued += 1
                logger.warning("transfer %s: no job was queued for it; queued again", pk)
    return requeued


def jobs_prune(*, older_than: float = 7 * 86400) -> int:
    """Finished job rows of the queue are history only (the audit trail keeps what matters)."""
    return queue.prune_finished_jobs(finished_before=timezone.now() - timedelta(seconds=older_than))


JOBS: dict[str, Callable[[], int]] = {
    "expire_imports": import_sweeps.import_expire_all,
    "sweep_upload_temp": import_sweeps.upload_temp_sweep,
    "recover_stale_transfers": transfers_recover_stale,
    "requeue_lost_transfers": transfers_requeue_lost,
    "prune_jobs": jobs_prune,
    "prune_sign_ins": sign_ins_prune,
    "sweep_staging": staging.staging_sweep,
    "reprobe_destinations": syntax_policy.destinations_reprobe,
}


def run_housekeeping(only: str | None = None) -> dict[str, int]:
    """Run every job (or the one named ``only``); returns how many things each one handled.
    A job that fails is logged and the others still run."""
    done: dict[str, int] = {}
    for name, job in JOBS.items():
        if only is not None and name != only:
            continue
        try:
            done[name] = job()
        except Exception:
            logger.exception("housekeeping job %s failed; the others go on", name)
    return done
