"""Helpers for the audit log tests: entries written the way the application writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractUser

from destinations.models import Destination
from dicom_api.audit import audit_record
from dicom_api.models import Action, Status, TransferLog


def make_entry(
    user: AbstractUser | None,
    *,
    action: Action = Action.SEND,
    status: Status = Status.SUCCESS,
    at: datetime | None = None,
    destination: Destination | None = None,
    **fields: Any,
) -> TransferLog:
    """One audit entry; ``at`` overrides the server's timestamp (which auto_now_add sets)."""
    entry = audit_record(action=action, status=status, user=user, destination=destination, **fields)
    if at is not None:
        TransferLog.objects.filter(pk=entry.pk).update(timestamp=at)
        entry.refresh_from_db()
    return entry


def ids(response: Any) -> list[int]:
    return [item["id"] for item in response.json()["results"]]
