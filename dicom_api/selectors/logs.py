"""Reading the audit trail: who may see which entries, and the rows of a CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from authentication.roles import reads_every_audit_entry
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


DATETIME_FIELDS = frozenset({"timestamp", "completed_at"})


def transfer_log_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[TransferLog]:
    """The entries ``user`` may read: admins and auditors everyone's, anyone else only their own."""
    entries = TransferLog.objects.all()
    if reads_every_audit_entry(user):
        return entries
    if user.pk is None:
        return entries.none()
    return entries.filter(user_id=user.pk)


def transfer_log_csv_rows(*, entries: QuerySet[TransferLog]) -> Iterator[list[Any]]:
    """The header, then one row per entry of ``entries`` (in its order), fetched in chunks."""
    yield [header for header, _ in CSV_COLUMNS]
    # details as the database's own JSON text: no decoding and encoding again per row.
    fields = ["details_text" if field == "details" else field for _, field in CSV_COLUMNS]
    dates = [index for index, (_, field) in enumerate(CSV_COLUMNS) if field in DATETIME_FIELDS]
    rows = entries.annotate(details_text=Cast("details", TextField())).values_list(*fields)
    for values in rows.iterator(chunk_size=CSV_CHUNK_SIZE):
        row = list(values)
        for index in dates:
            if row[index] is not None:
                row[index] = row[index].isoformat()
        yield row


def deleted_destination_names(*, entries: QuerySet[TransferLog]) -> list[str]:
    """The names of the destinations deleted since ``entries`` named them, A to Z."""
    names = (
        entries.filter(destination__isnull=True)
        .exclude(destination_name="")
        .order_by("destination_name")
        .values_list("destination_name", flat=True)
        .distinct()
    )
    return list(names)
