"""Transfers, the web side: queue one ``TransferLog`` (action ``send``) per series × destination,
retry a finished one as a new transfer, cancel one.

The states and their transitions are ``transfer_lifecycle``'s; the worker's side is
``transfer_run``; the job queue is ``dicom_api.queue``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pydicom
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone
from pydicom.errors import InvalidDicomError

from destinations.models import Destination
from dicom_api import queue
from dicom_api.audit import destination_snapshot
from dicom_api.models import ACTIVE_STATUSES, Action, DicomInstance, ImportSession, ImportState, Status, TransferLog
from dicom_api.services import reconciliation
from dicom_api.services import transfer_lifecycle as lifecycle
from dicom_api.services.import_batches import ImportStillOpen
from dicom_api.services.transfer_ledger import ledger_counts, ledger_create, ledger_delivered
from dicom_transfer.clients import client_address
from dicom_transfer.exceptions import ConflictError, InvalidInputError

logger = logging.getLogger(__name__)


# --- Creating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SeriesSummary:
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    patient_name: str
    series_description: str
    modality: str
    study_description: str
    study_date: Any
    series_number: int | None
    instance_count: int


def _series_of(import_session: ImportSession, series_uids: Sequence[str]) -> dict[str, _SeriesSummary]:
    """What the audit snapshots of each series, in one query (fields that vary inside a series,
    which they should not, take the value of the first group)."""
    fields = (
        "series_instance_uid",
        "study_instance_uid",
        "patient_id",
        "patient_name",
        "series_description",
        "modality",
        "study_description",
        "study_date",
        "series_number",
    )
    rows = (
        DicomInstance.objects.filter(import_session=import_session, series_instance_uid__in=series_uids)
        .values(*fields)
        .annotate(count=Count("id"))
        .order_by(*fields)
    )
    summaries: dict[str, _SeriesSummary] = {}
    for row in rows:
        uid = row["series_instance_uid"]
        if uid in summaries:
            previous = summaries[uid]
            summaries[uid] = replace(previous, instance_count=previous.instance_count + row["count"])
        else:
            summaries[uid] = _SeriesSummary(**{field: row[field] for field in fields}, instance_count=row["count"])
    return summaries


def transfers_create(
    *,
    user: User,
    import_id: Any,
    series_instance_uids: Sequence[str],
    destination_ids: Sequence[int],
    request: HttpRequest | None = None,
    extra_details: dict[str, Any] | None = None,
    resend: bool = False,
    delivered_before: dict[str, tuple[str, int | None, str]] | None = None,
    patient: dict[str, str] | None = None,
) -> list[TransferLog]:
    """Validate a send request and queue one transfer per series × destination.

    ``patient`` (API field → new value: ``reconciliation.FIELDS``) is what the series are sent as;
    each transfer keeps it with the values it replaces (read from the series' first instance), so
    the audit shows old → new and every attempt (and a retry) applies the same values.

    A series already delivered (or being sent) to one of the destinations is a ``ConflictError``
    listing those pairs, unless ``resend``. The destinations' rows are locked first, so two
    identical requests at the same moment cannot both pass that check.
    """
    with transaction.atomic():
        # The row lock keeps a concurrent DELETE or expiry from removing the import under us.
        import_session = ImportSession.objects.select_for_update().filter(pk=import_id, owner=user).first()
        if import_session is None:
            raise InvalidInputError("No such import of yours (it may have expired).", field="import_id")
        if import_session.state != ImportState.COMPLETE:
            raise ImportStillOpen()
        unique_series = list(dict.fromkeys(series_instance_uids))
        unique_destinations = list(dict.fromkeys(destination_ids))
        series = _series_of(import_session, unique_series)
        missing = [uid for uid in unique_series if uid not in series]
        if missing:
            raise InvalidInputError(
                f"{len(missing)} of the series {'is' if len(missing) == 1 else 'are'} not in this import: "
                f"{', '.join(missing[:5])}",
                field="series_instance_uids",
            )
        destinations = {
            d.pk: d for d in Destination.objects.select_for_update().filter(pk__in=unique_destinations).order_by("pk")
        }
        unknown = [str(pk) for pk in unique_destinations if pk not in destinations]
        if unknown:
            raise InvalidInputError(f"Unknown destination id(s): {', '.join(unknown)}", field="destination_ids")
        disabled = [destinations[pk].name for pk in unique_destinations if not destinations[pk].enabled]
        if disabled:
            raise InvalidInputError(
                f"Destination(s) disabled by an administrator: {', '.join(disabled)}", field="destination_ids"
            )
        if not resend:
            _refuse_if_already_sent(unique_series, unique_destinations, user=user)
        now = timezone.now().isoformat()
        send_as = {uid: _send_as(import_session, uid, patient, now) for uid in unique_series} if patient else {}
        address = client_address(request)
        # One id per request, so a page can group what was sent together (a retry keeps its origin's).
        request_details = {"send_request": uuid.uuid4().hex, **(extra_details or {})}
        logs = [
            TransferLog(
                user=user,
                username=user.get_username(),
                client_address=address,
                action=Action.SEND,
                status=Status.PENDING,
                import_session=import_session,
                patient_id=series[uid].patient_id,
                patient_name=series[uid].patient_name,
                study_instance_uid=series[uid].study_instance_uid,
                series_instance_uid=uid,
                series_description=series[uid].series_description,
                modality=series[uid].modality,
                instance_count=series[uid].instance_count,
                details={
                    "import_id": str(import_session.pk),
                    "attempts": [],
                    # What grouping by study and ordering by series need, kept with the audit.
                    "study_description": series[uid].study_description,
                    "study_date": series[uid].study_date.isoformat() if series[uid].study_date else None,
                    "series_number": series[uid].series_number,
                    **request_details,
                    **({"send_as": send_as[uid]} if uid in send_as else {}),
                    **(
                        {"deidentification": destinations[pk].deidentification}
                        if destinations[pk].deidentification
                        else {}
                    ),
                },
                **destination_snapshot(destinations[pk]),
            )
            for uid in unique_series
            for pk in unique_destinations
        ]
        for log in logs:
            log.save()
        ledger_create(logs, import_session=import_session, delivered_before=delivered_before)
        if delivered_before:
            for log in logs:
                log.instances_already_delivered = log.instances_sent = ledger_counts(log.pk).delivered
                log.save(update_fields=["instances_already_delivered", "instances_sent"])
        for log in logs:
            queue.enqueue_on_commit(log.pk)
    logger.info("queued %d transfer(s) (ids %s) for user %s", len(logs), [log.pk for log in logs], user.pk)
    return logs


def _send_as(import_session: ImportSession, series_uid: str, patient: dict[str, str], when: str) -> dict[str, Any]:
    first = (
        DicomInstance.objects.filter(import_session=import_session, series_instance_uid=series_uid)
        .order_by("instance_number", "id")
        .values_list("relative_path", flat=True)
        .first()
    )
    previous: dict[str, str] = {}
    if first is not None:
        try:
            dataset = pydicom.dcmread(
                import_session.directory / first,
                stop_before_pixels=True,
                specific_tags=list(reconciliation.FIELDS.values()),
            )
            previous = reconciliation.current_values(dataset)
        except (OSError, InvalidDicomError) as e:
            raise ConflictError("The files of this series are no longer readable: import them again.") from e
    return {"values": dict(patient), "previous": {field: previous.get(field, "") for field in patient}, "at": when}


def _refuse_if_already_sent(series_uids: Sequence[str], destination_ids: Sequence[int], *, user: User) -> None:
    """Whoever sent it, the destination has it; the transfer's id is named only to its own user
    (another's is not theirs to open, and says nothing they need)."""
    earlier = list(
        TransferLog.objects.filter(
            action=Action.SEND,
            series_instance_uid__in=series_uids,
            destination_id__in=destination_ids,
            status__in=(Status.SUCCESS, *ACTIVE_STATUSES),
        )
        .order_by("series_instance_uid", "destination_id", "-id")
        .values("id", "user_id", "series_instance_uid", "destination_id", "status", "completed_at")
    )
    if not earlier:
        return
    pairs: dict[tuple[str, int], dict[str, Any]] = {}
    for row in earlier:
        pairs.setdefault((row["series_instance_uid"], row["destination_id"]), dict(row))
    in_flight = sum(1 for row in pairs.values() if row["status"] != Status.SUCCESS)
    detail = (
        f"{len(pairs)} of the series × destinations asked for {'was' if len(pairs) == 1 else 'were'} "
        "already delivered"
        + (f" or {'is' if in_flight == 1 else 'are'} being sent" if in_flight else "")
        + '. Send again with "resend": true if that is what you want.'
    )
    raise ConflictError(
        detail,
        extra={
            "already_delivered": [
                {
                    "series_instance_uid": row["series_instance_uid"],
                    "destination_id": row["destination_id"],
                    "transfer_id": row["id"] if row["user_id"] == user.pk else None,
                    "completed_at": row["completed_at"].isoformat() if row["completed_at"] else None,
                }
                for row in pairs.values()
            ]
        },
    )


def _same_request(log: TransferLog) -> dict[str, Any]:
    """What a retry keeps of its origin: the request it belongs to, and the values it was sent as."""
    details = log.details or {}
    kept = {"send_request": details.get("send_request")} if details.get("send_request") else {}
    if details.get("send_as"):
        kept["send_as"] = details["send_as"]
    return kept


def transfer_retry(*, log: TransferLog, user: User, request: HttpRequest | None = None) -> TransferLog:
    """Send a failed or cancelled transfer again, as a new transfer (once: a double click makes one).
    The new transfer starts with the instances the old one delivered: it sends only the rest."""
    with transaction.atomic():
        log = TransferLog.objects.select_for_update().get(pk=log.pk)
        if log.status not in (Status.FAILED, Status.CANCELLED):
            raise ConflictError(f"Only a failed or cancelled transfer can be retried; this one is {log.status}.")
        retried_by = (log.details or {}).get("retried_by")
        if retried_by:
            raise ConflictError(f"This transfer was already retried as transfer {retried_by}.")
        if log.import_session_id is None:
            raise ConflictError("The import of this transfer has expired or was deleted; import the files again.")
        if log.destination_id is None:
            raise ConflictError("The destination of this transfer was deleted.")
        try:
            (new,) = transfers_create(
                user=user,
                import_id=log.import_session_id,
                series_instance_uids=[log.series_instance_uid],
                destination_ids=[log.destination_id],
                request=request,
                extra_details={"retry_of": log.pk, **_same_request(log)},
                resend=True,
                delivered_before=ledger_delivered(log.pk),
            )
        except InvalidInputError as e:  # the import or destination changed since: a conflict, not bad input
            raise ConflictError(e.message) from e
        log.details = {**(log.details or {}), "retried_by": new.pk}
        log.save(update_fields=["details"])
    return new


def transfer_cancel(*, log: TransferLog) -> TransferLog:
    """Stop a pending or sending transfer. A worker sending it sees the change and kills dcmsend."""
    cancelled = lifecycle.cancel(log.pk)
    log.refresh_from_db()
    if not cancelled:
        raise ConflictError(f"This transfer has already finished ({log.status}).")
    logger.info("transfer %s cancelled", log.pk)
    return log
