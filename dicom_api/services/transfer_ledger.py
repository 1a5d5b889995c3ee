"""The ledger of a transfer: what became of each instance of its series (``TransferInstance``).

Created with the transfer (one row per instance, ``pending``, in the order they are sent); a
Retry's new transfer starts with the instances the old one delivered already. The sending
worker writes outcomes in batches (``ledger_record``: one ``UPDATE`` per kind of outcome and
progress tick, never a row at a time), and every attempt sends only what is still to send
(``ledger_to_send``: pending, or refused by an earlier attempt). An instance DCMTK could not
read is ``unsendable`` and is not sent again by the same transfer.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection
from django.db.models import Count, Sum

from dicom_api.models import DELIVERED, TO_SEND, Delivery, DicomInstance, ImportSession, TransferInstance, TransferLog
from dicomnet.dcmsend import FileOutcome, is_success_or_warning

_BATCH = 2000


class LedgerRow(NamedTuple):
    """One instance still to send (a tuple: a frozen dataclass cost 3 ms per 1,000 to build)."""

    id: int
    sop_instance_uid: str
    relative_path: str


@dataclass(frozen=True)
class LedgerCounts:
    counts: dict[str, int]

    def __getitem__(self, outcome: Delivery) -> int:
        return self.counts.get(outcome.value, 0)

    @property
    def delivered(self) -> int:
        return self[Delivery.ACKNOWLEDGED] + self[Delivery.WARNING]

    @property
    def to_send(self) -> int:
        return self[Delivery.PENDING] + self[Delivery.REFUSED]


def ledger_create(
    logs: Sequence[TransferLog],
    *,
    import_session: ImportSession,
    delivered_before: dict[str, tuple[str, int | None, str]] | None = None,
) -> None:
    """One pending row per instance of each transfer's series, in sending order (instance
    number); ``delivered_before`` (SOP Instance UID → outcome, status, reason) starts rows as
    delivered already (a Retry).

    One ``INSERT ... SELECT`` per transfer, in the database: building a model per row cost 80 ms
    per 1,000 instances in the request of ``/send/``.
    """
    ledger, instances = TransferInstance._meta.db_table, DicomInstance._meta.db_table
    with connection.cursor() as cursor:
        for log in logs:
            cursor.execute(
                f"INSERT INTO {ledger} "  # noqa: S608 - table names are ours
                f"(transfer_id, position, sop_instance_uid, relative_path, size_bytes, outcome, reason) "
                f"SELECT %s, ROW_NUMBER() OVER (ORDER BY instance_number, id) - 1, sop_instance_uid, relative_path, "
                f"size_bytes, %s, '' FROM {instances} WHERE import_session_id = %s AND series_instance_uid = %s",
                [log.pk, Delivery.PENDING.value, _uuid_parameter(import_session.pk), log.series_instance_uid],
            )
    if delivered_before:
        groups: dict[tuple[str, int | None, str], list[str]] = defaultdict(list)
        for sop_uid, earlier in delivered_before.items():
            groups[earlier].append(sop_uid)
        for (outcome, status, reason), sop_uids in groups.items():
            for start in range(0, len(sop_uids), _BATCH):
                TransferInstance.objects.filter(
                    transfer__in=logs, sop_instance_uid__in=sop_uids[start : start + _BATCH]
                ).update(outcome=outcome, dimse_status=status, reason=reason)


def _uuid_parameter(value: uuid.UUID) -> uuid.UUID | str:
    """A UUID as the backend stores it (a uuid column on PostgreSQL, 32 hex digits on SQLite)."""
    return value if connection.vendor == "postgresql" else value.hex


def ledger_delivered(transfer_id: int) -> dict[str, tuple[str, int | None, str]]:
    """The instances a transfer delivered, for the ledger of its Retry."""
    return {
        sop: (outcome, status, reason)
        for sop, outcome, status, reason in TransferInstance.objects.filter(
            transfer_id=transfer_id, outcome__in=DELIVERED
        ).values_list("sop_instance_uid", "outcome", "dimse_status", "reason")
    }


def ledger_ensure(log: TransferLog) -> bool:
    """A transfer queued before the ledger existed gets one now, with nothing delivered (True:
    it was made)."""
    if log.import_session_id is None or TransferInstance.objects.filter(transfer_id=log.pk).exists():
        return False
    ledger_create([log], import_session=ImportSession(pk=log.import_session_id))
    return True


def ledger_to_send(transfer_id: int) -> list[LedgerRow]:
    """What the next attempt sends, in order: everything the destination has not acknowledged
    (and DCMTK did not find unreadable)."""
    return [
        LedgerRow._make(values)
        for values in TransferInstance.objects.filter(transfer_id=transfer_id, outcome__in=TO_SEND)
        .order_by("position")
        .values_list("id", "sop_instance_uid", "relative_path")
    ]


def delivery_of(outcome: FileOutcome) -> Delivery:
    if not outcome.sent:
        return Delivery.UNSENDABLE
    if outcome.status is None:  # DCMTK named the status without its code
        return Delivery.WARNING if outcome.text.startswith("Warning") else Delivery.REFUSED
    if outcome.status == 0x0000:
        return Delivery.ACKNOWLEDGED
    return Delivery.WARNING if is_success_or_warning(outcome.status) else Delivery.REFUSED


def ledger_record(rows: Sequence[LedgerRow], outcomes: Iterable[FileOutcome]) -> None:
    """Write the outcomes of files ``rows[outcome.index]``: one ``UPDATE`` per distinct outcome
    and run of consecutive rows (a ledger is inserted in sending order, so a tick of
    acknowledgements is usually one ``UPDATE ... WHERE id BETWEEN``)."""
    groups: dict[tuple[str, int | None, str], list[int]] = defaultdict(list)
    for outcome in outcomes:
        delivery = delivery_of(outcome)
        reason = "" if delivery is Delivery.ACKNOWLEDGED else outcome.text[:1000]
        groups[(delivery.value, outcome.status, reason)].append(rows[outcome.index].id)
    for (value, status, reason), ids in groups.items():
        runs, scattered = _runs(sorted(ids))
        for first, last in runs:
            TransferInstance.objects.filter(pk__range=(first, last)).update(
                outcome=value, dimse_status=status, reason=reason
            )
        for start in range(0, len(scattered), _BATCH):
            TransferInstance.objects.filter(pk__in=scattered[start : start + _BATCH]).update(
                outcome=value, dimse_status=status, reason=reason
            )


def _runs(ids: list[int], shortest: int = 8) -> tuple[list[tuple[int, int]], list[int]]:
    """Consecutive ids as (first, last) ranges, at least ``shortest`` long; the others one by one."""
    runs: list[tuple[int, int]] = []
    scattered: list[int] = []
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or ids[end] != ids[end - 1] + 1:
            if end - start >= shortest:
                runs.append((ids[start], ids[end - 1]))
            else:
                scattered.extend(ids[start:end])
            start = end
    return runs, scattered


def ledger_counts(transfer_id: int) -> LedgerCounts:
    rows = TransferInstance.objects.filter(transfer_id=transfer_id).values("outcome").annotate(n=Count("id"))
    return LedgerCounts({row["outcome"]: row["n"] for row in rows.order_by()})


@dataclass(frozen=True)
class LedgerSummary:
    """A transfer's ledger at the end of an attempt: counts per outcome, the bytes delivered (as
    imported), and how many instances went transcoded, per (from, to) syntax."""

    counts: LedgerCounts
    bytes_delivered: int
    transcoded: list[dict[str, object]]


def ledger_summary(log: TransferLog) -> LedgerSummary:
    """One ``GROUP BY`` over the ledger, for the end of every attempt."""
    counts: dict[str, int] = defaultdict(int)
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    delivered_bytes, sizes_missing = 0, False
    rows = (
        TransferInstance.objects.filter(transfer_id=log.pk)
        .values_list("outcome", "transcoded_from", "transcoded_to")
        .annotate(n=Count("id"), sized=Count("size_bytes"), size=Sum("size_bytes"))
        .order_by()
    )
    for outcome, source, target, n, sized, size in rows:
        counts[outcome] += n
        if target and source != target:
            pairs[(source, target)] += n
        if outcome in DELIVERED:
            delivered_bytes += int(size or 0)
            sizes_missing = sizes_missing or sized < n
    if sizes_missing:  # a ledger made before it kept sizes
        delivered_bytes = ledger_bytes_delivered(log)
    transcoded: list[dict[str, object]] = [
        {"from": source, "to": target, "instances": n} for (source, target), n in sorted(pairs.items())
    ]
    return LedgerSummary(LedgerCounts(dict(counts)), delivered_bytes, transcoded)


def ledger_bytes_delivered(log: TransferLog) -> int:
    """The bytes of the instances the destination stored, as they were imported, read from the
    import (for a ledger without sizes).

    Two index scans summed here, not a join in the database: on a fresh import and ledger the
    planner's statistics say one row each, and the join it then picks (a nested loop comparing
    every pair) took 100-200 ms for 1,000 instances and grows with the square of the series.
    """
    if log.import_session_id is None:
        return 0
    delivered = set(
        TransferInstance.objects.filter(transfer_id=log.pk, outcome__in=DELIVERED).values_list(
            "sop_instance_uid", flat=True
        )
    )
    if not delivered:
        return 0
    sizes = DicomInstance.objects.filter(
        import_session_id=log.import_session_id, series_instance_uid=log.series_instance_uid
    ).values_list("sop_instance_uid", "size_bytes")
    return sum(size for sop_uid, size in sizes if sop_uid in delivered)


def ledger_examples(transfer_id: int, outcome: Delivery, limit: int = 5) -> list[tuple[str, str]]:
    """A few (SOP Instance UID, reason) of one outcome, for a message."""
    return list(
        TransferInstance.objects.filter(transfer_id=transfer_id, outcome=outcome)
        .order_by("position")
        .values_list("sop_instance_uid", "reason")[:limit]
    )


def ledger_staged(
    rows: Sequence[LedgerRow], copies: Iterable[tuple[int, str, str, list[dict[str, object]] | None]]
) -> None:
    """Record what was sent from staged copies: ``(index, from, to, changes)`` of ``rows[index]``
    (``from``/``to`` blank when only the header changed). One ``UPDATE`` per kind of transcoding."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, source, target, changes in copies:
        groups[(source, target)].append(rows[index].id)
        if changes:
            TransferInstance.objects.filter(pk=rows[index].id).update(changes=changes)
    for (source, target), ids in groups.items():
        for start in range(0, len(ids), _BATCH):
            TransferInstance.objects.filter(pk__in=ids[start : start + _BATCH]).update(
                transcoded_from=source, transcoded_to=target
            )


def ledger_held_back(rows: Sequence[LedgerRow], held: Iterable[tuple[int, str]]) -> None:
    """Instances a change of this send keeps from the destination, each with the reason."""
    for index, reason in held:
        TransferInstance.objects.filter(pk=rows[index].id).update(
            outcome=Delivery.HELD_BACK.value, dimse_status=None, reason=reason[:1000]
        )
