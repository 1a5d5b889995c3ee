"""Background jobs, run by ``manage.py db_worker`` (django-tasks + django-tasks-db).

Jobs are queued through ``dicom_api.queue`` only. A job is the entry point of a worker: it
imports what it runs when it runs (``dicom_api.queue`` imports this module to queue jobs, so this
module imports nothing of the transfer code at load time).
"""

from __future__ import annotations

import os
import secrets
import socket

from django_tasks import task


def claim_token() -> str:
    """Who claims a transfer, unique per claim: host and process (for people), and a random part,
    so that one claim is never mistaken for another, even in containers that share host names and
    process ids."""
    return f"{socket.gethostname()[:38]}:{os.getpid()}:{secrets.token_hex(6)}"


@task()
def send_transfer(log_id: int) -> None:
    """Claim transfer ``log_id`` and send its series. The transfer's row holds the outcome."""
    from dicom_api.services.transfer_run import transfer_run

    transfer_run(transfer_id=log_id, claim_token=claim_token())
