"""Benchmark of the audit log API over 1,000,000 entries (issue 6). Not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dicom_bench_audit .venv/bin/python bench/audit_log.py

The database gets created and migrated if needed, then filled once (rerunning reuses the rows;
``--refill`` starts over). Rows are made by PostgreSQL itself (one INSERT ... SELECT over
generate_series, deterministic), spread over one year across 50 users, with the search indexes
of migration 0002 built after the fill. Then VACUUM ANALYZE, and each request goes through the
whole Django stack (URL routing, JWT authentication, filters, serializer, renderer) with DEBUG
off, timed ``--runs`` times after a warm-up. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dicom_bench_audit"
USERS = 50
NEWLINE = b"\n"
END = "2025-12-31T00:00:00+00:00"  # the newest entry; the oldest is a year before


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    maintenance = urlunparse(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", flush=True)


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-audit-"))
    os.environ.setdefault("LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dicom_transfer.settings")
    import django

    django.setup()


def ensure_users() -> tuple[Any, list[Any]]:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    admin, _ = User.objects.get_or_create(username="benchadmin", defaults={"is_staff": True, "is_superuser": True})
    users = []
    for n in range(USERS):
        user, created = User.objects.get_or_create(username=f"user{n:02d}")
        if created:
            user.set_unusable_password()
            user.save()
        users.append(user)
    return admin, users


def ensure_destinations() -> list[Any]:
    from destinations.models import Destination

    return [
        Destination.objects.get_or_create(
            name=f"PACS {n}", defaults={"ae_title": f"PACS{n}", "host": f"10.0.0.{n + 10}", "port": 104}
        )[0]
        for n in range(5)
    ]


FILL_SQL = """
INSERT INTO dicom_api_transferlog (
    user_id, username, client_address, action, timestamp, completed_at, status,
    patient_name, patient_id, study_instance_uid, series_instance_uid, series_description, modality,
    instance_count, destination_id, destination_name, destination_ae_title, destination_host,
    destination_port, error_message, details, instances_sent, instances_failed, attempt, worker_id)
SELECT
    (%(user_ids)s::bigint[])[u + 1], (%(usernames)s::text[])[u + 1],
    ('10.1.' || (u %% 250) || '.' || (i %% 250))::inet,
    act, ts, CASE WHEN st IN ('pending', 'sending') THEN NULL ELSE ts + interval '40 seconds' END, st,
    CASE WHEN dicom
        THEN (%(surnames)s::text[])[1 + p %% 20] || '^' || (%(given)s::text[])[1 + p / 20 %% 20] ELSE '' END,
    CASE WHEN dicom THEN 'PID' || lpad(p::text, 7, '0') ELSE '' END,
    CASE WHEN dicom THEN '1.2.826.0.1.3680043.8.498.' || p || '.' || (i / 8) ELSE '' END,
    CASE WHEN dicom THEN '1.2.826.0.1.3680043.8.498.' || p || '.' || (i / 8) || '.' || i ELSE '' END,
    CASE WHEN dicom THEN (%(descriptions)s::text[])[1 + (i %% 6)] ELSE '' END,
    CASE WHEN dicom THEN (%(modalities)s::text[])[1 + (p %% 8)] ELSE '' END,
    CASE WHEN dicom THEN 1 + (r3 * 400)::int ELSE 0 END,
    CASE WHEN remote THEN (%(dest_ids)s::bigint[])[1 + d] END,
    CASE WHEN remote THEN 'PACS ' || d ELSE '' END,
    CASE WHEN remote THEN 'PACS' || d ELSE '' END,
    CASE WHEN remote THEN '10.0.0.' || (d + 10) ELSE '' END,
    CASE WHEN remote THEN 104 END,
    CASE WHEN st = 'failed' THEN 'Association rejected by the peer (called AE title not recognised)' ELSE '' END,
    '{}'::jsonb,
    CASE WHEN act = 'send' AND st = 'success' THEN 1 + (r3 * 400)::int ELSE 0 END,
    0, CASE WHEN act = 'send' THEN 1 ELSE 0 END, ''
FROM (
    SELECT i, u, p, d, r3, ts, act,
        act IN ('send', 'import') AS dicom,
        act IN ('send', 'test_connection') AS remote,
        CASE
            WHEN ts > %(end)s::timestamptz - interval '2 minutes' AND act = 'send' THEN 'sending'
            WHEN r2 < 0.90 THEN 'success' WHEN r2 < 0.98 THEN 'failed'
            WHEN act = 'send' THEN 'cancelled' ELSE 'failed'
        END AS st
    FROM (
        SELECT i, r2, r3,
            floor(random() * %(users)s)::int AS u,
            floor(random() * 50000)::int AS p,
            floor(random() * 5)::int AS d,
            %(end)s::timestamptz - (%(n)s - i) * (interval '365 days' / %(n)s) AS ts,
            CASE WHEN r1 < 0.60 THEN 'send' WHEN r1 < 0.80 THEN 'import' WHEN r1 < 0.85 THEN 'test_connection'
                 WHEN r1 < 0.97 THEN 'login' ELSE 'logout' END AS act
        FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3 FROM generate_series(1, %(n)s) AS i) AS g
    ) AS a
) AS b
"""


def fill(entries: int, users: list[Any], destinations: list[Any], refill: bool) -> None:
    from django.core.management import call_command
    from django.db import connection

    from dicom_api.models import TransferLog

    have = TransferLog.objects.count()
    if have == entries and not refill:
        print(f"reusing {have:,} entries", flush=True)
        return
    # Build the search indexes after the rows are in: much faster than maintaining them per row.
    # The rows have the columns of migration 0001 (worker_id became claim_token in 0003); later
    # migrations add theirs with defaults.
    call_command("migrate", "dicom_api", "0001", verbosity=0)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE dicom_api_transferlog RESTART IDENTITY")
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            FILL_SQL,
            {
                "n": entries,
                "users": USERS,
                "end": END,
                "user_ids": [user.pk for user in users],
                "usernames": [user.username for user in users],
                "dest_ids": [destination.pk for destination in destinations],
                "surnames": [
                    "MULLER",
                    "SMITH",
                    "GARCIA",
                    "ROSSI",
                    "DUBOIS",
                    "NOWAK",
                    "SILVA",
                    "KIM",
                    "NGUYEN",
                    "JOHNSON",
                    "BROWN",
                    "MARTIN",
                    "BERNARD",
                    "LEROY",
                    "MOREAU",
                    "FISCHER",
                    "WEBER",
                    "MEYER",
                    "WAGNER",
                    "BECKER",
                ],
                "given": [
                    "ANNA",
                    "JOHN",
                    "MARIA",
                    "LUCAS",
                    "EMMA",
                    "NOAH",
                    "MIA",
                    "LEON",
                    "SOFIA",
                    "PAUL",
                    "LEA",
                    "BEN",
                    "EVA",
                    "FINN",
                    "IDA",
                    "JONAS",
                    "NORA",
                    "ELIAS",
                    "LINA",
                    "MAX",
                ],
                "descriptions": ["AX T1", "SAG T2 FLAIR", "CHEST PA", "ABDOMEN 5MM", "HEAD WO", "LOCALIZER"],
                "modalities": ["CT", "MR", "US", "CR", "DX", "MG", "PT", "NM"],
            },
        )
    print(f"inserted {entries:,} entries in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    call_command("migrate", "dicom_api", verbosity=0)
    print(f"built the search indexes (migration 0002) in {time.perf_counter() - started:.1f} s", flush=True)


def retire_a_destination() -> None:
    """ "PACS 4" deleted (its entries keep its id in ``destination_key``) and added again: what
    the audit log's filter of deleted destinations reads. Once; a rerun finds it done."""
    from destinations.models import Destination
    from dicom_api.models import TransferLog

    if TransferLog.objects.filter(destination_name="PACS 4", destination__isnull=True).exists():
        return
    started = time.monotonic()
    Destination.objects.filter(name="PACS 4").delete()
    ensure_destinations()
    print(f"PACS 4 deleted and added again in {time.monotonic() - started:.0f} s", flush=True)


def vacuum_analyze() -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE dicom_api_transferlog")
    print(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s", flush=True)


def client_for(user: Any) -> Any:
    from rest_framework.test import APIClient

    from authentication.sessions import session_start

    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_start(user=user).access}")
    return client


def measure(client: Any, url: str, runs: int) -> dict[str, Any]:
    timings = []
    size = 0
    count: Any = None
    for run in range(runs + 3):  # three warm-up requests, not counted
        started = time.perf_counter()
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code} {body[:300]!r}")
        if run >= 3:
            timings.append(elapsed)
        size = len(body)
        if response.streaming:
            count = f"{body.count(NEWLINE) - 1:,}"
        elif "destinations" in (page := response.json()):
            count = f"{len(page['destinations'])} destinations"
        else:
            count = f"~{page['count']:,}" if page["count_is_estimate"] else f"{page['count']:,}"
    timings.sort()
    return {
        "median": statistics.median(timings),
        "p95": statistics.quantiles(timings, n=20, method="inclusive")[18],
        "max": timings[-1],
        "rows": count,
        "bytes": size,
    }


def measure_full_export(client: Any, url: str) -> str:
    """One export of every entry: its time, and how much the process's peak memory grew."""
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = client.get(url)
    rows = size = 0
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
        size += len(chunk)
    elapsed = time.perf_counter() - started
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    return (
        f"{rows - 1:,} rows, {size / 1e6:.0f} MB in {elapsed:.1f} s ({(rows - 1) / elapsed:,.0f} rows/s); "
        f"peak memory of the process grew by {growth:.1f} MB"
    )


def machine() -> str:
    from django.db import connection

    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        buffers = cursor.fetchone()[0]
    return (
        f"{nproc} CPUs ({cpu}), Python {platform.python_version()}, "
        f"PostgreSQL {version} (shared_buffers {buffers}), on the same machine; "
        f"load average at the start {os.getloadavg()[0]:.1f}"
    )


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
    ensure_database(url)
    setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    admin, users = ensure_users()
    destinations = ensure_destinations()
    fill(args.entries, users, destinations, args.refill)
    retire_a_destination()
    vacuum_analyze()

    from dicom_api.models import TransferLog

    user = users[7]
    # A patient of this user's: the search finds a few entries, as a real one would.
    patient = TransferLog.objects.filter(user=user).exclude(patient_id="").values_list("patient_id", flat=True)[0]
    as_admin, as_user = client_for(admin), client_for(user)
    retired = (
        TransferLog.objects.filter(destination_name="PACS 4", destination__isnull=True)
        .values_list("destination_key", flat=True)
        .first()
    )
    if retired is None:
        raise SystemExit("PACS 4 was deleted before entries kept ids: run again with --refill")
    base = "/api/dicom/logs/"
    cases = [
        ("unfiltered first page", "admin", as_admin, base),
        ("unfiltered first page (own entries)", "user", as_user, base),
        ("by user", "admin", as_admin, f"{base}?user={user.username}"),
        (
            "by status + date range (a week)",
            "admin",
            as_admin,
            f"{base}?status=failed&date_from=2025-06-01&date_to=2025-06-07",
        ),
        ("search by patient id", "admin", as_admin, f"{base}?search={patient}"),
        ("search by patient id (own entries)", "user", as_user, f"{base}?search={patient}"),
        ("page 100 of the unfiltered list", "admin", as_admin, f"{base}?page=100"),
        ("CSV of one day", "admin", as_admin, f"{base}?format=csv&date_from=2025-06-03&date_to=2025-06-03"),
        ("by a deleted destination", "admin", as_admin, f"{base}?deleted_destination={retired}"),
        ("by a deleted destination (own entries)", "user", as_user, f"{base}?deleted_destination={retired}"),
        ("the deleted destinations", "admin", as_admin, f"{base}deleted-destinations/"),
        ("the deleted destinations (own entries)", "user", as_user, f"{base}deleted-destinations/"),
    ]
    print(f"\nMachine: {machine()}\n", flush=True)
    print("| request | as | rows | median ms | p95 ms | max ms |\n| --- | --- | ---: | ---: | ---: | ---: |")
    for name, who, client, path in cases:
        result = measure(client, path, args.runs)
        print(
            f"| {name} `{path.removeprefix(base) or '/'}` | {who} | {result['rows']} | "
            f"{result['median']:.1f} | {result['p95']:.1f} | {result['max']:.1f} |",
            flush=True,
        )

    print(f"\nFull export `?format=csv` as admin, once: {measure_full_export(as_admin, base + '?format=csv')}")
    print(f"Load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
