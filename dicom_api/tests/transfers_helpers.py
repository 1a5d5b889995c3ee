"""Helpers of the transfer endpoint tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.models import Action, Status, TransferLog


def send(client: APIClient, **body: Any) -> Any:
    return client.post("/api/dicom/send/", body, format="json")


def make_transfer(owner: User, status: Status = Status.PENDING, **fields: Any) -> TransferLog:
    return TransferLog.objects.create(
        user=owner,
        username=owner.username,
        action=Action.SEND,
        status=status,
        series_instance_uid="1.2.3",
        instance_count=10,
        **fields,
    )
