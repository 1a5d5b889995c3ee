"""Reading the audit trail: who may see which entries, and the rows of a CSV export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from dicom_api.models import TransferLog

# Rows fetched per round trip while a CSV export streams; memory stays bounded whatever the size.
CSV_CHUNK_SIZE = 2000

# (CSV header, model field) in the order of the export.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("timestamp", "timestamp"),
    ("completed_at", "completed_at"),
    ("user_id", "user_id"),
    ("username", "username"),
    ("client_address", "client_address"),
    ("action", "action"),
    ("status", "status"),
    ("patient_name", "patient_name"),
    ("patient_id", "patient_id"),
    ("study_instance_uid", "study_instance_uid"),
    ("series_instance_uid", "series_instance_uid"),
    ("series_description", "series_description"),
    ("modality", "modality"),
    ("instance_count", "instance_count"),
    ("instances_sent", "instances_sent"),
    ("instances_failed", "instances_failed"),
    ("attempt", "attempt"),
    ("destination_id", "destination_id"),
    ("destination_name", "destination_name"),
    ("destination_ae_title", "destination_ae_title"),
    ("destination_host", "destination_host"),
    ("destination_port", "destination_port"),
    ("error_message", "error_message"),
    ("details", "details"),
)


def transfer_log_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[TransferLog]:
    """The entries ``user`` may read: admins everyone's, anyone else only their own."""
    entries = TransferLog.objects.all()
    if getattr(user, "is_staff", False):
        return entries
    if user.pk is None:
        return entries.none()
    return entries.filter(user_id=user.pk)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def transfer_log_csv_rows(*, entries: QuerySet[TransferLog]) -> Iterator[list[Any]]:
    """The header, then one row per entry of ``entries`` (in its order), fetched in chunks."""
    yield [header for header, _ in CSV_COLUMNS]
    fields = [field for _, field in CSV_COLUMNS]
    for row in entries.values_list(*fields).iterator(chunk_size=CSV_CHUNK_SIZE):
        yield [_csv_value(value) for value in row]
