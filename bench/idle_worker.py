"""Idle CPU of one SQLite `db_worker` over 30 s, and its queue latency (issue 19).

    .venv/bin/python bench/idle_worker.py [--seconds 30] [--jobs 20]

Starts a worker as `make run` does (SQLite in a fresh DATA_DIR, `--interval 1`, woken by a
datagram on `DATA_DIR/wakeup/`), then, for comparison, one polling every 50 ms as before. For
each: the worker's CPU time (all its threads, from /proc) over the idle period, then the time
from queuing a job to the worker starting it, for jobs queued one after another. Prints a
Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def measure(data_dir: Path, environment: dict[str, str], interval: str, seconds: float, jobs: int) -> dict[str, float]:
    from django_tasks_db.models import DBTaskResult

    from dicom_api.tasks import send_transfer
    from dicom_api.wakeup import notify_workers

    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--no-reload",
            "--interval",
            interval,
            "--no-startup-delay",
            "-v",
            "0",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(5)  # start-up (imports, first heartbeat) is not idling
        before = cpu_seconds(worker.pid)
        time.sleep(seconds)
        idle_percent = (cpu_seconds(worker.pid) - before) / seconds * 100

        latencies = []
        for _ in range(jobs):
            time.sleep(0.3)  # the worker is asleep again
            queued = time.monotonic()
            result = send_transfer.enqueue(2**62)  # no such transfer: the job ends at once
            notify_workers()
            while DBTaskResult.objects.filter(pk=result.id, started_at__isnull=True).exists():
                time.sleep(0.002)
            latencies.append((time.monotonic() - queued) * 1000)
    finally:
        worker.terminate()
        worker.wait(timeout=10)
    latencies.sort()
    return {
        "idle_percent": idle_percent,
        "median_ms": statistics.median(latencies),
        "max_ms": latencies[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--jobs", type=int, default=20)
    options = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="idle-"))
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    environment.update(DEBUG="1", DATA_DIR=str(data_dir), ENV_FILE=str(data_dir / "no.env"))
    os.environ.update(environment)
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=environment, check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dicom_transfer.settings")
    import django

    django.setup()
    rows = []
    for label, interval in (
        ("wake-up socket, `--interval 1` (now)", "1"),
        ("polling every 50 ms, `--interval 0.05` (before)", "0.05"),
    ):
        figures = measure(data_dir, environment, interval, options.seconds, options.jobs)
        idle, median, worst = figures["idle_percent"], figures["median_ms"], figures["max_ms"]
        rows.append(f"| {label} | {idle:.2f} % | {median:.0f} ms | {worst:.0f} ms |")
        print(rows[-1], flush=True)
    print(f"\nIdle SQLite worker, {options.seconds:g} s idle, {options.jobs} jobs queued one at a time:\n")
    print("| worker | CPU while idle (one core = 100 %) | queue latency, median | max |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
