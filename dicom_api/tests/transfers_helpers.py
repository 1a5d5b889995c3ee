"""Helpers of the transfer endpoint tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.models import Action, Status, TransferInstance, TransferLog


def send(client: APIClient, **body: Any) -> Any:
    return client.post("/api/dicom/send/", body, format="json")


def make_transfer(owner: User, status: Status = Status.PENDING, **fields: Any) -> TransferLog:
    return TransferLog.objects.create(
        **{
            "user": owner,
            "username": owner.username,
            "action": Action.SEND,
            "status": status,
            "series_instance_uid": "1.2.3",
            "instance_count": 10,
            **fields,
        }
    )


def make_ledger(log: TransferLog, **outcomes: int) -> list[TransferInstance]:
    """Ledger rows for ``log``: ``acknowledged=3, pending=7``... in that order (pending for the rest)."""
    kinds = [kind for kind, count in outcomes.items() for _ in range(count)]
    kinds += ["pending"] * (log.instance_count - len(kinds))
    return TransferInstance.objects.bulk_create(
        TransferInstance(
            transfer=log,
            position=position,
            sop_instance_uid=f"1.2.3.{log.pk}.{position}",
            relative_path=f"{position}.dcm",
            outcome=kind,
            dimse_status=0 if kind == "acknowledged" else None,
        )
        for position, kind in enumerate(kinds)
    )
