"""Waking idle workers at once when a job is queued (PostgreSQL LISTEN/NOTIFY).

django-tasks-db's worker polls the database, sleeping ``--interval`` seconds between empty polls.
On PostgreSQL the web process NOTIFYs a channel after it queues a job, and each worker sleeps by
waiting on that channel instead: a job starts within milliseconds, and idle workers can poll
rarely. On SQLite (no NOTIFY) workers simply sleep and poll.
"""

from __future__ import annotations

import logging
import time
from types import ModuleType
from typing import Any

from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "dicom_transfer_jobs"


def notify_workers() -> None:
    """Tell listening workers that a job is ready (no-op but on PostgreSQL)."""
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")
    except Exception:  # the job is queued anyway; the workers' polling finds it
        logger.warning("could not notify workers; they will find the job by polling", exc_info=True)


class Listener:
    """A connection of its own that LISTENs on the channel; ``wait`` is a wakeable sleep."""

    def __init__(self) -> None:
        import psycopg

        settings_dict = connection.settings_dict
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        self.connection = psycopg.connect(**params, autocommit=True)
        self.connection.execute(f"LISTEN {CHANNEL}")
        logger.info("worker listens for jobs on %s (%s)", CHANNEL, settings_dict.get("NAME"))

    def wait(self, seconds: float) -> None:
        try:
            for _ in self.connection.notifies(timeout=seconds, stop_after=1):
                break
        except Exception:
            logger.warning("listening for jobs failed; polling instead", exc_info=True)
            time.sleep(seconds)

    def close(self) -> None:
        self.connection.close()


class _WakeableTime:
    """Stands for the ``time`` module inside django-tasks-db's worker: its ``sleep`` returns early
    when a job is announced. Everything else is the real module."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener

    def sleep(self, seconds: float) -> None:
        self._listener.wait(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def make_worker_wakeable(worker_module: ModuleType) -> Listener | None:
    """On PostgreSQL, make ``worker_module``'s sleeps wakeable; returns the listener to close."""
    if connection.vendor != "postgresql" or not hasattr(worker_module, "time"):
        return None
    listener = Listener()
    worker_module.time = _WakeableTime(listener)  # type: ignore[attr-defined]
    return listener
