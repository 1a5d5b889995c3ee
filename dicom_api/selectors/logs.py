"""Reading the audit trail: who may see which entries, and the rows of a CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast, Coalesce

from authentication.roles import reads_every_audit_entry
from dicom_api.models import Action, TransferLog

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
    ("destination_id", "destination_ref"),  # kept when the destination is deleted
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
    rows = entries.annotate(
        details_text=Cast("details", TextField()), destination_ref=Coalesce("destination_id", "destination_key")
    ).values_list(*fields)
    for values in rows.iterator(chunk_size=CSV_CHUNK_SIZE):
        row = list(values)
        for index in dates:
            if row[index] is not None:
                row[index] = row[index].isoformat()
        yield row


def deleted_destinations(*, entries: QuerySet[TransferLog]) -> list[dict[str, Any]]:
    """The destinations deleted since ``entries`` named them, A to Z: ``{id, name, deleted_at}``.
    ``id`` is the one the entries kept (None for entries made before ids were kept: their name
    alone tells them apart); ``deleted_at`` the time of the deletion's audit entry, if any."""
    kept = (
        entries.filter(destination__isnull=True)
        .exclude(destination_name="")
        .order_by("destination_name", "destination_key")
        .values_list("destination_key", "destination_name")
        .distinct()
    )
    found = list(kept)
    keys = {key for key, _ in found if key is not None}
    # The deletion is an admin's entry: only its time (and the name it was deleted under) is given,
    # to whoever reads entries naming it.
    deletions = (
        {
            key: (timestamp, name)
            for key, timestamp, name in TransferLog.objects.filter(
                action=Action.DESTINATION_DELETE, destination_key__in=keys
            )
            .order_by("timestamp")  # the latest, should there be two
            .values_list("destination_key", "timestamp", "destination_name")
        }
        if keys
        else {}
    )
    # One per id: a destination renamed before it was deleted goes by the name it was deleted
    # under when the caller's entries know that name, or else by one of theirs (A to Z, the last).
    names: dict[int, list[str]] = {}
    for key, name in found:
        if key is not None:
            names.setdefault(key, []).append(name)
    named = {
        key: deletions[key][1] if key in deletions and deletions[key][1] in kept_names else kept_names[-1]
        for key, kept_names in names.items()
    }
    result = [{"id": key, "name": name, "deleted_at": deletions.get(key, (None,))[0]} for key, name in named.items()]
    result += [{"id": None, "name": name, "deleted_at": None} for key, name in found if key is None]
    return sorted(result, key=lambda d: (d["name"], d["id"] is None, d["id"] or 0))
