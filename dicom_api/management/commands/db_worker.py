"""``manage.py db_worker``: django-tasks-db's worker, plus a heartbeat and housekeeping.

The worker process runs one job at a time (run several processes for parallel transfers). Beside
it, a daemon thread of this process:

* writes this worker's heartbeat (``WorkerHeartbeat``) every ``WORKER_HEARTBEAT_INTERVAL``,
  which ``/api/health/`` reports, and each time recovers transfers whose worker died (their
  heartbeat older than ``TRANSFER_STALE_AFTER``): a SIGKILLed worker's transfer is sent on by
  another within ``TRANSFER_STALE_AFTER + WORKER_HEARTBEAT_INTERVAL`` (12 s by default);
* runs the rest of housekeeping every ``HOUSEKEEPING_INTERVAL`` (expired imports, upload
  leftovers, lost jobs). No operator's cron is needed.

SIGTERM or SIGINT (Ctrl-C of ``make run``) sets ``dicom_api.stopping``: a transfer being sent
stops dcmsend at its next progress tick, saves its ledger and is released to the next worker at
once; a second signal within ``STOP_GRACE`` seconds (``make run`` sends SIGTERM right after
Ctrl-C's SIGINT) does not cut that short.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks_db.management.commands import db_worker as db_worker_module
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from dicom_api import stopping
from dicom_api.wakeup import make_worker_wakeable

logger = logging.getLogger("dicom_api.worker")

STOP_GRACE = 10.0  # seconds in which a repeated stop signal waits for the transfer's release


class _Worker(db_worker_module.Worker):
    """django-tasks-db's worker, whose stop signal also stops (and releases) a running transfer."""

    _stop_asked_at = 0.0

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if stopping.requested.is_set() and now - self._stop_asked_at < STOP_GRACE:
            logger.info("already stopping: the running transfer is being released")
            return
        if not stopping.requested.is_set():
            stopping.requested.set()
            self._stop_asked_at = now
        super().shutdown(signum, frame)


class _Beat(threading.Thread):
    def __init__(self, worker_id: str) -> None:
        super().__init__(name="worker-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopped = threading.Event()

    def run(self) -> None:
        from dicom_api.models import WorkerHeartbeat
        from dicom_api.services import housekeeping

        hostname = socket.gethostname()[:255]
        last_housekeeping = 0.0
        try:
            while not self.stopped.is_set():
                close_old_connections()
                try:
                    WorkerHeartbeat.objects.update_or_create(
                        worker_id=self.worker_id,
                        defaults={"hostname": hostname, "pid": os.getpid(), "last_seen": timezone.now()},
                    )
                    now = timezone.now().timestamp()
                    if now - last_housekeeping >= settings.HOUSEKEEPING_INTERVAL:
                        last_housekeeping = now
                        housekeeping.run_housekeeping()
                    else:
                        housekeeping.run_housekeeping(only="recover_stale_transfers")
                except Exception:
                    logger.exception("heartbeat or housekeeping failed; will try again")
                self.stopped.wait(min(settings.WORKER_HEARTBEAT_INTERVAL, settings.HOUSEKEEPING_INTERVAL))
        finally:
            connection.close()


def _warm_up() -> None:
    """Import what the jobs run now, not in the first transfer: the send path (pydicom, numpy and
    the codecs of the staging step) took 70-150 ms to load, which the first transfer of every
    worker waited for."""
    from dicom_api.services import transfer_run, verification  # noqa: F401


class Command(DbWorkerCommand):
    help = "Run a background worker for transfers and housekeeping (django-tasks-db, with heartbeat)."

    def handle(self, *args: Any, **options: Any) -> None:
        worker_id: str = options["worker_id"]
        beat = _Beat(worker_id)
        beat.start()
        listener = make_worker_wakeable(db_worker_module)
        db_worker_module.Worker = _Worker  # type: ignore[misc]
        _warm_up()
        logger.info("worker %s started (pid %s)", worker_id, os.getpid())
        try:
            super().handle(*args, **options)
        finally:
            beat.stopped.set()
            if listener is not None:
                listener.close()
            from dicom_api.models import WorkerHeartbeat

            try:
                WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
            except Exception:
                logger.exception("could not remove the heartbeat of worker %s", worker_id)
            logger.info("worker %s stopped", worker_id)
