"""Background jobs, run by ``manage.py db_worker`` (django-tasks + django-tasks-db)."""

from __future__ import annotations

import os
import secrets
import socket

from django_tasks import task


def worker_identity() -> str:
    """Who is sending: host and process (for people), and a random part, so that one claim is
    never mistaken for another, even in containers that share host names and process ids."""
    return f"{socket.gethostname()[:38]}:{os.getpid()}:{secrets.token_hex(6)}"


@task()
def send_transfer(log_id: int) -> None:
    """Claim transfer ``log_id`` and send its series. The log row holds the outcome."""
    from dicom_api.services.transfers import transfer_run

    transfer_run(log_id=log_id, worker_id=worker_identity())
