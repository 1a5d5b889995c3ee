"""The figures of ``GET /metrics``, read from the database when Prometheus scrapes.

Read from the rows every process writes (the audit trail, the queue, the workers' heartbeats),
so any web process on any machine answers the same figures: none is counted in one process's
memory. Totals count finished rows only; a finished row never changes again and audit rows are
never deleted, so every total only grows (a Prometheus counter). A transfer is counted under the
destination name it last contacted (``destination_name``, the row's snapshot).

The histograms of send time and queue wait are counted here too (a conditional count per
bucket, in the same query): observing them in the worker instead would lose what a worker killed
mid-send had observed and, with workers on several machines, would need every machine scraped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from destinations.models import Destination
from dicom_api.models import FINISHED_STATUSES, Action, TransferLog, WorkerHeartbeat
from dicom_api.selectors.dashboard import queue_now

SEND_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
QUEUE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts per upper bound (the last is +Inf), and the sum of the values."""

    buckets: list[tuple[float, int]]
    total: float


@dataclass
class DestinationFigures:
    transfers: dict[str, int] = field(default_factory=dict)  # finished status → transfers
    instances_sent: int = 0
    instances_failed: int = 0
    bytes_sent: int = 0
    send_seconds: Histogram | None = None
    queue_seconds: Histogram | None = None
    pending: int = 0
    sending: int = 0
    oldest_pending_seconds: float = 0.0


@dataclass(frozen=True)
class ImportFigures:
    imports: dict[str, int]  # status → imports
    instances: int
    bytes: int


@dataclass(frozen=True)
class MetricsFigures:
    destinations: dict[str, DestinationFigures]
    imports: ImportFigures
    workers_alive: int


def _bucket_aggregates(column: str, bounds: tuple[float, ...]) -> dict[str, Count | Sum]:
    aggregates: dict[str, Count | Sum] = {
        f"{column}__le{n}": Count("id", filter=Q(**{f"{column}__lte": bound})) for n, bound in enumerate(bounds)
    }
    aggregates[f"{column}__count"] = Count(column)
    aggregates[f"{column}__sum"] = Sum(column)
    return aggregates


def _histogram(row: dict[str, object], column: str, bounds: tuple[float, ...]) -> Histogram | None:
    count = int(row[f"{column}__count"] or 0)  # type: ignore[call-overload]
    if not count:
        return None
    buckets = [(bound, int(row[f"{column}__le{n}"] or 0)) for n, bound in enumerate(bounds)]  # type: ignore[call-overload]
    return Histogram(buckets=[*buckets, (float("inf"), count)], total=float(row[f"{column}__sum"] or 0.0))  # type: ignore[arg-type]


def metrics_figures() -> MetricsFigures:
    """Every figure of ``/metrics``: four queries, each one ``GROUP BY`` over indexed rows."""
    destinations: dict[str, DestinationFigures] = {}

    def of(name: str) -> DestinationFigures:
        return destinations.setdefault(name, DestinationFigures())

    sends = TransferLog.objects.filter(action=Action.SEND).order_by()
    finished = (
        sends.filter(status__in=FINISHED_STATUSES)
        .values("destination_name")
        .annotate(
            **{f"n_{status}": Count("id", filter=Q(status=status)) for status in FINISHED_STATUSES},
            instances_sent=Sum("instances_sent"),
            instances_failed=Sum("instances_failed"),
            bytes_sent=Sum("byte_count"),
            **_bucket_aggregates("send_seconds", SEND_BUCKETS),
        )
    )
    for row in finished:
        figures = of(row["destination_name"])
        figures.transfers = {str(status): int(row[f"n_{status}"]) for status in FINISHED_STATUSES}
        figures.instances_sent = int(row["instances_sent"] or 0)
        figures.instances_failed = int(row["instances_failed"] or 0)
        figures.bytes_sent = int(row["bytes_sent"] or 0)
        figures.send_seconds = _histogram(row, "send_seconds", SEND_BUCKETS)
    # Every transfer that was claimed once has waited: finished or not (the value never changes).
    waited = (
        sends.filter(queue_seconds__isnull=False)
        .values("destination_name")
        .annotate(**_bucket_aggregates("queue_seconds", QUEUE_BUCKETS))
    )
    for row in waited:
        of(row["destination_name"]).queue_seconds = _histogram(row, "queue_seconds", QUEUE_BUCKETS)
    for name in Destination.objects.values_list("name", flat=True):
        of(name)  # every configured destination has its queue figures, 0 when nothing waits
    now = timezone.now()
    for name, pending, sending, oldest in queue_now():
        figures = of(name)
        figures.pending, figures.sending = pending, sending
        if oldest is not None:
            figures.oldest_pending_seconds = max(0.0, (now - oldest).total_seconds())
    imports = {
        row["status"]: row
        for row in TransferLog.objects.filter(action=Action.IMPORT)
        .order_by()
        .values("status")
        .annotate(n=Count("id"), instances=Sum("instance_count"), bytes=Sum("byte_count"))
    }
    alive = WorkerHeartbeat.objects.filter(last_seen__gte=now - timedelta(seconds=settings.WORKER_STALE_AFTER)).count()
    return MetricsFigures(
        destinations=destinations,
        imports=ImportFigures(
            imports={status: int(row["n"]) for status, row in imports.items()},
            instances=sum(int(row["instances"] or 0) for row in imports.values()),
            bytes=sum(int(row["bytes"] or 0) for row in imports.values()),
        ),
        workers_alive=alive,
    )
