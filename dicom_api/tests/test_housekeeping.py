"""Housekeeping of transfers, the job queue and upload leftovers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dicom_api.models import Status, TransferLog
from dicom_api.tests.transfers_helpers import make_transfer

pytestmark = pytest.mark.django_db


def test_housekeeping_requeues_a_pending_transfer_whose_job_was_lost(user: User) -> None:
    from datetime import timedelta

    from dicom_api.services.housekeeping import transfers_requeue_lost

    lost = make_transfer(user, Status.PENDING)
    queued = make_transfer(user, Status.PENDING)
    fresh = make_transfer(user, Status.PENDING)
    TransferLog.objects.filter(pk__in=[lost.pk, queued.pk]).update(timestamp=timezone.now() - timedelta(minutes=5))
    from dicom_api.tasks import send_transfer

    send_transfer.enqueue(queued.pk)
    assert transfers_requeue_lost() == 1
    queued_ids = sorted(r["args"][0] for r in DBTaskResult.objects.values_list("args_kwargs", flat=True))
    assert queued_ids == sorted([lost.pk, queued.pk])
    assert fresh.pk not in queued_ids
    assert transfers_requeue_lost() == 0


def test_housekeeping_fails_a_stale_transfer_after_the_last_attempt(user: User, settings: Any) -> None:
    from datetime import timedelta

    from dicom_api.services.housekeeping import transfers_recover_stale

    settings.TRANSFER_MAX_ATTEMPTS = 2
    old = timezone.now() - timedelta(seconds=settings.TRANSFER_STALE_AFTER + 5)
    retried = make_transfer(user, Status.SENDING, attempt=1, heartbeat_at=old, claim_token="w:1")
    exhausted = make_transfer(user, Status.SENDING, attempt=2, heartbeat_at=old, claim_token="w:2")
    alive = make_transfer(user, Status.SENDING, attempt=1, heartbeat_at=timezone.now(), claim_token="w:3")
    assert transfers_recover_stale() == 2
    retried.refresh_from_db()
    exhausted.refresh_from_db()
    alive.refresh_from_db()
    assert (retried.status, exhausted.status, alive.status) == ("pending", "failed", "sending")
    assert "stopped responding" in exhausted.error_message
    assert exhausted.completed_at is not None
    assert retried.details["attempts"][-1]["outcome"] == "worker_lost"


def test_housekeeping_fails_the_job_of_a_dead_worker_and_requeues_its_transfer(user: User) -> None:
    from datetime import timedelta

    from dicom_api.services.housekeeping import transfers_requeue_lost
    from dicom_api.tasks import send_transfer

    log = make_transfer(user, Status.PENDING)
    TransferLog.objects.filter(pk=log.pk).update(timestamp=timezone.now() - timedelta(minutes=5))
    result = send_transfer.enqueue(log.pk)
    DBTaskResult.objects.filter(id=result.id).update(
        status="RUNNING", worker_ids=["dead-worker"], started_at=timezone.now() - timedelta(minutes=5)
    )
    assert transfers_requeue_lost() == 1
    assert DBTaskResult.objects.get(id=result.id).status == "FAILED"
    assert DBTaskResult.objects.filter(status="READY").count() == 1


def test_housekeeping_removes_abandoned_upload_files(settings: Any, tmp_path: Path) -> None:
    import os
    import time

    from dicom_api.services.import_sweeps import upload_temp_sweep

    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    old, fresh = folder / "old.upload", folder / "fresh.upload"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (time.time() - 13 * 3600,) * 2)
    assert upload_temp_sweep() == 1
    assert (old.exists(), fresh.exists()) == (False, True)


def test_housekeeping_prunes_only_old_finished_jobs(user: User) -> None:
    from datetime import timedelta

    from dicom_api.services.housekeeping import jobs_prune
    from dicom_api.tasks import send_transfer

    old, recent, waiting = (send_transfer.enqueue(1), send_transfer.enqueue(2), send_transfer.enqueue(3))
    DBTaskResult.objects.filter(id=old.id).update(status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=8))
    DBTaskResult.objects.filter(id=recent.id).update(status="FAILED", finished_at=timezone.now())
    assert jobs_prune() == 1
    assert {str(pk) for pk in DBTaskResult.objects.values_list("id", flat=True)} == {recent.id, waiting.id}
