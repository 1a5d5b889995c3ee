"""The job queue: the only code that knows django-tasks-db.

A transfer is run by one ``send_transfer`` job (``dicom_api.tasks``). The queue is a table of the
database (``DBTaskResult``), so every web process and every worker, on any machine, shares it.
Everything else calls these functions with transfer ids; nothing else reads the job table.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from dicom_api.tasks import send_transfer
from dicom_api.wakeup import notify_workers

logger = logging.getLogger(__name__)

_WAITING = (TaskResultStatus.READY, TaskResultStatus.RUNNING)
_FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


def enqueue(transfer_id: int, *, delay: float = 0.0) -> None:
    """Queue a job for ``transfer_id``, to run after ``delay`` seconds."""
    if delay > 0:
        send_transfer.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(transfer_id)
    else:
        send_transfer.enqueue(transfer_id)
        notify_workers()


def enqueue_on_commit(transfer_id: int, *, delay: float = 0.0) -> None:
    """Queue the job once the current transaction commits (never for a row that was rolled back)."""
    transaction.on_commit(lambda: enqueue(transfer_id, delay=delay))


def queued_transfer_ids() -> set[int]:
    """Transfers that have a job waiting or running."""
    waiting: set[int] = set()
    for args_kwargs in DBTaskResult.objects.filter(
        task_path=send_transfer.module_path, status__in=_WAITING
    ).values_list("args_kwargs", flat=True):
        args = (args_kwargs or {}).get("args") or []
        if args and isinstance(args[0], int):
            waiting.add(args[0])
    return waiting


def fail_jobs_of_dead_workers(*, live_workers: set[str], started_before: datetime) -> int:
    """A job claimed by a worker that died stays RUNNING for ever: mark it failed."""
    failed = 0
    for job_id, worker_ids in DBTaskResult.objects.filter(
        task_path=send_transfer.module_path, status=TaskResultStatus.RUNNING, started_at__lt=started_before
    ).values_list("id", "worker_ids"):
        if not set(worker_ids or []) & live_workers:
            failed += DBTaskResult.objects.filter(id=job_id, status=TaskResultStatus.RUNNING).update(
                status=TaskResultStatus.FAILED, finished_at=timezone.now()
            )
    return failed


def prune_finished_jobs(*, finished_before: datetime) -> int:
    """Finished job rows are history only (the audit trail keeps what matters)."""
    deleted, _ = DBTaskResult.objects.filter(status__in=_FINISHED, finished_at__lt=finished_before).delete()
    return deleted
