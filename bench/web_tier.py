"""The web tier under slow clients, and the import speed through it (issue 21 #5).

    .venv/bin/python bench/web_tier.py [--instances 400] [--runs 3]

Starts gunicorn with our configuration (dicom_transfer/gunicorn_conf.py, one web process of 4
threads, SQLite in a fresh DATA_DIR), then the same with gunicorn's stock gthread worker, and for
each: (1) 20 clients trickle a 1,000-byte body to /api/auth/login/ while /api/health/ is timed;
(2) one multipart import of ``--instances`` CT instances (548 × 548, ~600 KB each) is timed,
``--runs`` times, the two servers taking turns. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pydicom.uid import generate_uid
from run import ROOT, free_port, make_series, multipart_upload, size_of

PASSWORD = "bench-web-tier-password"


@contextlib.contextmanager
def gunicorn(data_dir: Path, *extra: str) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    env.update(DEBUG="0", SECRET_KEY="b" * 60, DATA_DIR=str(data_dir), ENV_FILE=str(data_dir / "no.env"))
    env.update(LOGGING_LEVEL="WARNING", ADMIN_USERNAME="bench", ADMIN_PASSWORD=PASSWORD)
    python = str(ROOT / ".venv/bin/python")
    for command in (["migrate", "-v", "0"], ["createcachetable", "-v", "0"], ["ensure_admin"]):
        subprocess.run([python, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen(
        [
            *(str(ROOT / ".venv/bin/gunicorn"), "dicom_transfer.wsgi:application"),
            *("--config", "python:dicom_transfer.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "1"),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(base + "/api/health/", timeout=1)
                break
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def health_under_slow_clients(base: str, clients: int = 20) -> list[float]:
    port = int(base.rsplit(":", 1)[1])
    sockets = []
    for _ in range(clients):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /api/auth/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        s.sendall(b"Content-Length: 1000\r\n\r\n{")
        sockets.append(s)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.5):
            for s in sockets:
                with contextlib.suppress(OSError):
                    s.send(b" ")

    threading.Thread(target=trickle, daemon=True).start()
    time.sleep(1)
    times = []
    for _ in range(5):
        started = time.monotonic()
        try:
            urllib.request.urlopen(base + "/api/health/", timeout=10).read()
        except urllib.error.HTTPError:
            pass  # 503 (no worker here) is an answer
        except OSError:
            times.append(float("inf"))
            continue
        times.append(time.monotonic() - started)
        time.sleep(0.3)
    stop.set()
    for s in sockets:
        s.close()
    return times


def login(base: str) -> str:
    request = urllib.request.Request(
        base + "/api/auth/login/",
        data=json.dumps({"username": "bench", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="web-tier-"))
    files = make_series(scratch / "src", options.instances, 548, 548, study=generate_uid(), number=1)
    megabytes = size_of(files) / 1e6
    variants = (("ours (`dicom_transfer/gunicorn_worker.py`)", ()), ("stock gthread", ("--worker-class", "gthread")))
    rates: dict[str, list[float]] = {label: [] for label, _ in variants}
    worst: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        bases = {
            label: stack.enter_context(gunicorn(scratch / str(n), *extra)) for n, (label, extra) in enumerate(variants)
        }
        for label, base in bases.items():
            worst[label] = max(health_under_slow_clients(base))
        tokens = {label: login(base) for label, base in bases.items()}
        # Interleaved, so that neither gets the machine's quieter moments.
        for _ in range(options.runs):
            for label, base in bases.items():
                elapsed, body = multipart_upload(base, tokens[label], files)
                assert body["instance_count"] == options.instances, body
                rates[label].append(megabytes / elapsed)
    rows = []
    for label, _ in variants:
        slowest = "no answer in 10 s" if worst[label] == float("inf") else f"{worst[label] * 1000:.0f} ms"
        low, middle, high = min(rates[label]), statistics.median(rates[label]), max(rates[label])
        rows.append(f"| {label} | {slowest} | {middle:.0f} MB/s ({low:.0f}–{high:.0f}) |")
    print(f"\nOne web process (4 threads); import of {options.instances} instances ({megabytes:.0f} MB):\n")
    print("| web worker | /api/health/ under 20 slow clients, slowest of 5 | import speed, median of runs |")
    print("| --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
