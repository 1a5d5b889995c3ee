"""Benchmark of the dashboard API and of a /metrics scrape over 1,000,000 audit entries (issue 19).
Not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dicom_bench_dashboard .venv/bin/python bench/dashboard.py

The database is filled as bench/audit_log.py fills its own (one year of entries, 60 % sends over
5 destinations), then moved so that its newest entry is now (the dashboard's windows end now),
and given what the sends of this version record: a send time, a queue wait and a byte count.
Each request goes through the whole Django stack with DEBUG off, timed ``--runs`` times after
three warm-up requests. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit_log

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dicom_bench_dashboard"

# The figures of this version's sends, deterministic per row: send times of 2 s to ~10 min with a
# long tail, waits of 0 to 30 s, 500 kB per instance stored.
FIGURES_SQL = """
UPDATE dicom_api_transferlog SET
    started_at = timestamp + make_interval(secs => (id % 3001) / 100.0),
    queue_seconds = (id % 3001) / 100.0,
    send_seconds = CASE WHEN status IN ('success', 'failed')
        THEN 2 + power((id * 7919 % 1000) / 1000.0, 4) * 600 END,
    byte_count = instances_sent::bigint * 500000
WHERE action = 'send'
"""


def move_to_now() -> None:
    """Shift every entry so the newest is now (once per fill), and add the figures of a send."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT now() - max(timestamp) FROM dicom_api_transferlog")
        (lag,) = cursor.fetchone()
        started = time.perf_counter()
        if lag is not None and lag.total_seconds() > 3600:
            cursor.execute(
                "UPDATE dicom_api_transferlog SET timestamp = timestamp + %s, completed_at = completed_at + %s",
                [lag, lag],
            )
            print(f"moved the entries by {lag} in {time.perf_counter() - started:.1f} s", flush=True)
        cursor.execute("SELECT 1 FROM dicom_api_transferlog WHERE action = 'send' AND started_at IS NULL LIMIT 1")
        if cursor.fetchone() is not None:
            started = time.perf_counter()
            cursor.execute(FIGURES_SQL)
            print(f"added the figures of the sends in {time.perf_counter() - started:.1f} s", flush=True)


def measure(client: Any, url: str, runs: int, headers: dict[str, str] | None = None) -> dict[str, float]:
    timings = []
    for run in range(runs + 3):
        started = time.perf_counter()
        response = client.get(url, headers=headers or {})
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code} {response.content[:300]!r}")
        if run >= 3:
            timings.append(elapsed)
    timings.sort()
    return {
        "median": statistics.median(timings),
        "p95": statistics.quantiles(timings, n=20, method="inclusive")[18],
        "max": timings[-1],
    }


def explain(sql_window: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF, SUMMARY ON) SELECT destination_name, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY send_seconds) FROM dicom_api_transferlog "
            "WHERE action = 'send' AND completed_at >= now() - %s::interval AND status IN ('success', 'failed') "
            "AND send_seconds IS NOT NULL GROUP BY destination_name",
            [sql_window],
        )
        plan = [row[0] for row in cursor.fetchall()]
    scans = [line.strip() for line in plan if "Scan" in line]
    return f"{scans[0] if scans else '?'}; {plan[-1].strip()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--refill", action="store_true", help="delete the entries and fill again")
    args = parser.parse_args()
    if args.runs < 20:
        parser.error("--runs must be at least 20 (p95)")
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must point to a PostgreSQL database of its own (it gets filled).")
    audit_log.ensure_database(url)
    audit_log.setup_django(url)
    os.environ["METRICS_TOKEN"] = "bench"
    from django.conf import settings
    from django.core.management import call_command

    settings.METRICS_TOKEN = "bench"
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    admin, users = audit_log.ensure_users()
    destinations = audit_log.ensure_destinations()
    audit_log.fill(args.entries, users, destinations, args.refill)
    move_to_now()
    audit_log.vacuum_analyze()

    from django.core.cache import cache
    from django.test import Client

    from dicom_api.models import TransferLog

    as_admin = audit_log.client_for(admin)
    scraper, token = Client(HTTP_HOST="localhost"), {"Authorization": "Bearer bench"}
    # The first scrape of an hour counts the settled totals over every entry (then cached).
    cache.clear()
    started = time.perf_counter()
    assert scraper.get("/metrics", headers=token).status_code == 200
    cold = (time.perf_counter() - started) * 1000
    cases = [
        ("dashboard, last 24 h", as_admin, "/api/dicom/dashboard/?window=24h", None),
        ("dashboard, last 7 days", as_admin, "/api/dicom/dashboard/?window=7d", None),
        ("/metrics scrape, settled totals cached", scraper, "/metrics", token),
    ]
    print(f"\nMachine: {audit_log.machine()}", flush=True)
    print(f"Entries: {TransferLog.objects.count():,}\n", flush=True)
    print("| request | median ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: |")
    for name, client, path, headers in cases:
        result = measure(client, path, args.runs, headers)
        print(f"| {name} `{path}` | {result['median']:.1f} | {result['p95']:.1f} | {result['max']:.1f} |", flush=True)
    print(f"\nFirst /metrics scrape of an hour (settled totals counted over every entry): {cold:.0f} ms")
    print(f"Plan of the 7-day percentiles: {explain('7 days')}")
    print(f"Load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
