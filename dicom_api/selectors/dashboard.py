"""The admins' dashboard: per destination over the last 24 h or 7 days, aggregated in the database.

Finished sends of the window are found through ``log_send_completed_idx`` (finished sends by when
they ended), grouped by destination name in one query. The median and the 95th percentile of the
send time are PostgreSQL's ``percentile_cont`` in that same query; SQLite has no percentile
function, so there a second query ranks the window's send times per destination with window
functions (``ROW_NUMBER() OVER (PARTITION BY ...)``) and returns only the two rows around each
percentile, interpolated here as ``percentile_cont`` does: exact, and never more than four rows
per destination leave the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from destinations.models import Destination
from dicom_api.models import FINISHED_STATUSES, Action, Status, TransferLog
from dicom_transfer.exceptions import InvalidInputError

WINDOWS = {"24h": (timedelta(hours=24), "hour"), "7d": (timedelta(days=7), "day")}
PERCENTILES = (0.5, 0.95)


@dataclass
class DestinationRow:
    destination: str
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    instances_sent: int = 0
    bytes_sent: int = 0
    send_seconds_median: float | None = None
    send_seconds_p95: float | None = None
    pending: int = 0
    sending: int = 0
    oldest_pending_seconds: float = 0.0


@dataclass
class TimelinePoint:
    start: datetime
    succeeded: int = 0
    failed: int = 0


@dataclass
class Dashboard:
    window: str
    since: datetime
    until: datetime
    bucket: str
    destinations: list[DestinationRow] = field(default_factory=list)
    timeline: list[TimelinePoint] = field(default_factory=list)


def dashboard_get(*, window: str) -> Dashboard:
    if window not in WINDOWS:
        raise InvalidInputError(f"window must be one of {', '.join(WINDOWS)}, got {window!r}.")
    span, bucket = WINDOWS[window]
    until = timezone.now()
    since = until - span
    rows: dict[str, DestinationRow] = {}

    def of(name: str) -> DestinationRow:
        return rows.setdefault(name, DestinationRow(name))

    postgresql = connection.vendor == "postgresql"
    # On PostgreSQL the percentiles are in the same GROUP BY: one pass over the window's rows.
    timed = {"median": _percentile(0.5), "p95": _percentile(0.95)} if postgresql else {}
    totals = (
        _finished(since)
        .values("destination_name")
        .annotate(
            succeeded=Count("id", filter=Q(status=Status.SUCCESS)),
            failed=Count("id", filter=Q(status=Status.FAILED)),
            cancelled=Count("id", filter=Q(status=Status.CANCELLED)),
            instances=Sum("instances_sent"),
            bytes=Sum("byte_count"),
            **timed,
        )
    )
    for total in totals:
        row = of(total["destination_name"])
        row.succeeded, row.failed, row.cancelled = total["succeeded"], total["failed"], total["cancelled"]
        row.instances_sent, row.bytes_sent = int(total["instances"] or 0), int(total["bytes"] or 0)
        if postgresql:
            row.send_seconds_median, row.send_seconds_p95 = total["median"], total["p95"]
    if not postgresql:
        for name, (median, p95) in send_time_percentiles_ranked(since).items():
            of(name).send_seconds_median, of(name).send_seconds_p95 = median, p95
    for name in Destination.objects.values_list("name", flat=True):
        of(name)
    for name, pending, sending, oldest in queue_now():
        row = of(name)
        row.pending, row.sending = pending, sending
        row.oldest_pending_seconds = max(0.0, (until - oldest).total_seconds()) if oldest else 0.0
    return Dashboard(
        window=window,
        since=since,
        until=until,
        bucket=bucket,
        destinations=sorted(rows.values(), key=lambda row: row.destination.casefold()),
        timeline=_timeline(since, until, bucket),
    )


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(p) WITHIN GROUP (ORDER BY ...)`` (NULLs are left out)."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, percentile: float, **extra: Any) -> None:
        super().__init__(expression, percentile=repr(float(percentile)), **extra)


_TIMED = Q(status__in=(Status.SUCCESS, Status.FAILED))  # what has a send time


def _percentile(p: float) -> PercentileCont:
    return PercentileCont("send_seconds", p, filter=_TIMED)


def _finished(since: datetime) -> QuerySet[TransferLog]:
    return TransferLog.objects.filter(
        action=Action.SEND, completed_at__gte=since, status__in=FINISHED_STATUSES
    ).order_by()


def queue_now() -> list[tuple[str, int, int, datetime | None]]:
    """Per destination: transfers pending, sending, and when the oldest pending one was requested."""
    return [
        (row["destination_name"], row["pending"], row["sending"], row["oldest"])
        for row in TransferLog.objects.filter(action=Action.SEND, status__in=(Status.PENDING, Status.SENDING))
        .order_by()
        .values("destination_name")
        .annotate(
            pending=Count("id", filter=Q(status=Status.PENDING)),
            sending=Count("id", filter=Q(status=Status.SENDING)),
            oldest=Min("timestamp", filter=Q(status=Status.PENDING)),
        )
    ]


_TABLE = TransferLog._meta.db_table
_WINDOW_WHERE = "action = %s AND completed_at >= %s AND status IN (%s, %s) AND send_seconds IS NOT NULL"


def send_time_percentiles(since: datetime) -> dict[str, tuple[float, float]]:
    """Median and p95 of the send time of the window's successes and failures (PostgreSQL)."""
    rows = _finished(since).values("destination_name").annotate(median=_percentile(0.5), p95=_percentile(0.95))
    return {row["destination_name"]: (row["median"], row["p95"]) for row in rows if row["median"] is not None}


def send_time_percentiles_ranked(since: datetime) -> dict[str, tuple[float, float]]:
    """The same as ``send_time_percentiles`` with window functions only (SQLite; any backend).

    For n values ranked 0..n-1, ``percentile_cont(p)`` is the value at rank p·(n-1), interpolated
    between the ranks around it: only those rows are returned."""
    # The rank below p·(n-1) in integer arithmetic: a cast of a fraction rounds on PostgreSQL and
    # truncates on SQLite, an integer division truncates on both.
    below = [f"(n - 1) * {round(p * 100)} / 100" for p in PERCENTILES]
    wanted = " OR ".join(f"rn = {rank} OR rn = {rank} + 1" for rank in below)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT destination_name, rn, n, send_seconds FROM ("  # noqa: S608 - our table, our numbers
            f"SELECT destination_name, send_seconds, "
            f"ROW_NUMBER() OVER (PARTITION BY destination_name ORDER BY send_seconds) - 1 AS rn, "
            f"COUNT(*) OVER (PARTITION BY destination_name) AS n FROM {_TABLE} WHERE {_WINDOW_WHERE}"
            f") AS ranked WHERE {wanted}",
            [Action.SEND.value, since, Status.SUCCESS.value, Status.FAILED.value],
        )
        ranked: dict[str, tuple[int, dict[int, float]]] = {}
        for name, rank, count, seconds in cursor.fetchall():
            ranked.setdefault(name, (int(count), {}))[1][int(rank)] = float(seconds)
    result = {}
    for name, (count, values) in ranked.items():
        median, p95 = (_interpolate(values, p * (count - 1)) for p in PERCENTILES)
        result[name] = (median, p95)
    return result


def _interpolate(values: dict[int, float], position: float) -> float:
    low = math.floor(position)
    high = min(low + 1, max(values))
    return values[low] + (values[high] - values[low]) * (position - low)


def _timeline(since: datetime, until: datetime, bucket: str) -> list[TimelinePoint]:
    """Successes and failures of every destination per hour (24 h) or day (7 days), empty ones too."""
    trunc = TruncHour if bucket == "hour" else TruncDay
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    counts = {
        row["start"]: row
        for row in TransferLog.objects.filter(
            action=Action.SEND, completed_at__gte=since, status__in=(Status.SUCCESS, Status.FAILED)
        )
        .order_by()
        .annotate(start=trunc("completed_at", tzinfo=UTC))
        .values("start")
        .annotate(
            succeeded=Count("id", filter=Q(status=Status.SUCCESS)), failed=Count("id", filter=Q(status=Status.FAILED))
        )
    }
    points = []
    moment = since.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        moment = moment.replace(hour=0)
    while moment <= until:
        row = counts.get(moment)
        points.append(TimelinePoint(moment, row["succeeded"] if row else 0, row["failed"] if row else 0))
        moment += step
    return points
