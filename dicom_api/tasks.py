"""Background jobs, run by ``manage.py db_worker`` (django-tasks + django-tasks-db)."""

from __future__ import annotations

import os
import socket

from django_tasks import task


def worker_identity() -> str:
    """Who is sending: host and process, unique among live workers."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}"


@task()
def send_transfer(log_id: int) -> None:
    """Claim transfer ``log_id`` and send its series. The log row holds the outcome."""
    from dicom_api.services.transfers import transfer_run

    transfer_run(log_id=log_id, worker_id=worker_identity())
