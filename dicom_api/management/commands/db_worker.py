"""``manage.py db_worker``: django-tasks-db's worker, plus a heartbeat and housekeeping.

The worker process runs one job at a time (run several processes for parallel transfers). Beside
it, a daemon thread of this process:

* writes this worker's heartbeat (``WorkerHeartbeat``), which ``/api/health/`` reports;
* runs housekeeping every ``HOUSEKEEPING_INTERVAL``: expired imports are deleted, and transfers
  whose worker died (stale heartbeat) are queued again or failed. No operator's cron is needed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks_db.management.commands import db_worker as db_worker_module
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from dicom_api.wakeup import make_worker_wakeable

logger = logging.getLogger("dicom_api.worker")


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
                except Exception:
                    logger.exception("heartbeat or housekeeping failed; will try again")
                self.stopped.wait(min(settings.WORKER_HEARTBEAT_INTERVAL, settings.HOUSEKEEPING_INTERVAL))
        finally:
            connection.close()


class Command(DbWorkerCommand):
    help = "Run a background worker for transfers and housekeeping (django-tasks-db, with heartbeat)."

    def handle(self, *args: Any, **options: Any) -> None:
        worker_id: str = options["worker_id"]
        beat = _Beat(worker_id)
        beat.start()
        listener = make_worker_wakeable(db_worker_module)
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
