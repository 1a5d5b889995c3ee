"""The figures of ``GET /metrics``, read from the database when Prometheus scrapes.

Read from the rows every process writes (the audit trail, the queue, the workers' heartbeats),
so any web process on any machine answers the same figures: none is counted in one process's
memory. Totals count finished rows only; a finished row never changes again and audit rows are
never deleted, so every total only grows (a Prometheus counter). A transfer is counted under the
destination name it last contacted (``destination_name``, the row's snapshot).

The histograms of send time and queue wait are counted here too (a conditional count per
bucket): observing them in the worker instead would lose what a worker killed mid-send had
observed and, with workers on several machines, would need every machine scraped.

Counting a million rows at every scrape costs seconds, so the totals are two sums: what was
*settled* before a watermark (the start of the hour before last: every row that finished or
started before it was committed long ago and never changes), computed once per hour by the first
scrape and kept in the shared cache; and what came after it, counted at each scrape through
the indexes of recent rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from destinations.models import Destination
from dicom_api.models import ACTIVE_STATUSES, FINISHED_STATUSES, Action, TransferLog, WorkerHeartbeat
from dicom_api.selectors.dashboard import queue_now

SEND_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
QUEUE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
SETTLED_CACHE_VERSION = 1


@dataclass
class Histogram:
    """Cumulative counts per upper bound (the last is +Inf), and the sum of the values."""

    buckets: list[tuple[float, int]]
    total: float

    def add(self, other: Histogram | None) -> Histogram:
        if other is None:
            return self
        counts = [(bound, a + b) for (bound, a), (_, b) in zip(self.buckets, other.buckets, strict=True)]
        return Histogram(counts, self.total + other.total)


def _add(a: Histogram | None, b: Histogram | None) -> Histogram | None:
    return b if a is None else a.add(b)


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

    def add(self, other: DestinationFigures) -> None:
        """Add the totals of ``other`` (not the queue: that is counted once, now)."""
        for status, count in other.transfers.items():
            self.transfers[status] = self.transfers.get(status, 0) + count
        self.instances_sent += other.instances_sent
        self.instances_failed += other.instances_failed
        self.bytes_sent += other.bytes_sent
        self.send_seconds = _add(self.send_seconds, other.send_seconds)
        self.queue_seconds = _add(self.queue_seconds, other.queue_seconds)


@dataclass
class ImportFigures:
    imports: dict[str, int] = field(default_factory=dict)  # status → imports
    instances: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class MetricsFigures:
    destinations: dict[str, DestinationFigures]
    imports: ImportFigures
    workers_alive: int


@dataclass
class _Totals:
    destinations: dict[str, DestinationFigures]
    imports: ImportFigures


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


def _totals(finished: QuerySet[TransferLog], waited: QuerySet[TransferLog], imported: QuerySet[TransferLog]) -> _Totals:
    destinations: dict[str, DestinationFigures] = {}
    rows = (
        finished.values("destination_name")
        .order_by()
        .annotate(
            **{f"n_{status}": Count("id", filter=Q(status=status)) for status in FINISHED_STATUSES},
            instances_sent=Sum("instances_sent"),
            instances_failed=Sum("instances_failed"),
            bytes_sent=Sum("byte_count"),
            **_bucket_aggregates("send_seconds", SEND_BUCKETS),
        )
    )
    for row in rows:
        figures = destinations.setdefault(row["destination_name"], DestinationFigures())
        figures.transfers = {str(status): int(row[f"n_{status}"]) for status in FINISHED_STATUSES}
        figures.instances_sent = int(row["instances_sent"] or 0)
        figures.instances_failed = int(row["instances_failed"] or 0)
        figures.bytes_sent = int(row["bytes_sent"] or 0)
        figures.send_seconds = _histogram(row, "send_seconds", SEND_BUCKETS)
    # Every transfer that was claimed once has waited, finished or not (the value never changes).
    rows = waited.values("destination_name").order_by().annotate(**_bucket_aggregates("queue_seconds", QUEUE_BUCKETS))
    for row in rows:
        figures = destinations.setdefault(row["destination_name"], DestinationFigures())
        figures.queue_seconds = _histogram(row, "queue_seconds", QUEUE_BUCKETS)
    imports = ImportFigures()
    for row in (
        imported.values("status")
        .order_by()
        .annotate(n=Count("id"), instances=Sum("instance_count"), b=Sum("byte_count"))
    ):
        imports.imports[row["status"]] = int(row["n"])
        imports.instances += int(row["instances"] or 0)
        imports.bytes += int(row["b"] or 0)
    return _Totals(destinations, imports)


def _sends() -> QuerySet[TransferLog]:
    return TransferLog.objects.filter(action=Action.SEND)


def _settled(before: datetime) -> _Totals:
    """Totals of what finished (or, for the queue wait, started) before ``before``."""
    key = f"metrics:settled:{before.isoformat()}"
    totals = cache.get(key, version=SETTLED_CACHE_VERSION)
    if totals is None:
        totals = _totals(
            _sends().filter(status__in=FINISHED_STATUSES, completed_at__lt=before),
            _sends().filter(queue_seconds__isnull=False, started_at__lt=before),
            # An import's entry is written once, when it is done.
            TransferLog.objects.filter(action=Action.IMPORT, timestamp__lt=before),
        )
        cache.set(key, totals, timeout=3 * 3600, version=SETTLED_CACHE_VERSION)
    return totals


def _recent(since: datetime) -> _Totals:
    """The rest: a row started after ``since`` has finished after it, or is still active."""
    recent = Q(completed_at__gte=since) | Q(status__in=ACTIVE_STATUSES)
    return _totals(
        _sends().filter(status__in=FINISHED_STATUSES, completed_at__gte=since),
        _sends().filter(recent, queue_seconds__isnull=False, started_at__gte=since),
        TransferLog.objects.filter(action=Action.IMPORT, timestamp__gte=since),
    )


def watermark(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def metrics_figures() -> MetricsFigures:
    """Every figure of ``/metrics``: the settled totals (cached), the recent ones, the queue now."""
    now = timezone.now()
    before = watermark(now)
    settled, recent = _settled(before), _recent(before)
    destinations: dict[str, DestinationFigures] = {}
    for part in (settled, recent):
        for name, figures in part.destinations.items():
            destinations.setdefault(name, DestinationFigures()).add(figures)
    for name in Destination.objects.values_list("name", flat=True):
        destinations.setdefault(name, DestinationFigures())  # its queue figures, 0 when nothing waits
    for name, pending, sending, oldest in queue_now():
        figures = destinations.setdefault(name, DestinationFigures())
        figures.pending, figures.sending = pending, sending
        if oldest is not None:
            figures.oldest_pending_seconds = max(0.0, (now - oldest).total_seconds())
    imports = ImportFigures()
    for part in (settled, recent):
        for status, count in part.imports.imports.items():
            imports.imports[status] = imports.imports.get(status, 0) + count
        imports.instances += part.imports.instances
        imports.bytes += part.imports.bytes
    alive = WorkerHeartbeat.objects.filter(last_seen__gte=now - timedelta(seconds=settings.WORKER_STALE_AFTER)).count()
    return MetricsFigures(destinations=destinations, imports=imports, workers_alive=alive)
