"""Real ``manage.py db_worker`` processes against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

FAST_SETTINGS = {
    "DICOM_CONNECT_TIMEOUT": "2",
    "DICOM_ACSE_TIMEOUT": "2",
    "DICOM_DIMSE_TIMEOUT": "2",
    "TRANSFER_RETRY_BACKOFF": "0.5",
    "TRANSFER_MAX_ATTEMPTS": "3",
    "TRANSFER_RETRY_FOR": "60",
    "TRANSFER_PROGRESS_INTERVAL": "0.1",
    "TRANSFER_STALE_AFTER": "3",
    "WORKER_HEARTBEAT_INTERVAL": "0.5",
    "HOUSEKEEPING_INTERVAL": "0.5",
}


def test_database_url() -> str:
    """The URL of the database this test runs on, for a worker in another process."""
    if connection.vendor != "postgresql":
        raise RuntimeError(
            "Worker tests need the PostgreSQL test database (another process must see the rows): "
            "run them with DATABASE_URL=postgres://... as `make test` does."
        )
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Workers:
    """Start, kill and stop workers; their output goes to ``data_dir/worker-N.log``."""

    def __init__(self, data_dir: Path, **overrides: str) -> None:
        self.data_dir = data_dir
        self.environment = {
            **os.environ,
            **FAST_SETTINGS,
            **overrides,
            "DATABASE_URL": test_database_url(),
            "DATA_DIR": str(data_dir),
            "DEBUG": "1",
            "ENV_FILE": str(data_dir / "no.env"),
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1, *, interval: float = 0.05) -> list[subprocess.Popen[bytes]]:
        started = []
        for _ in range(count):
            log = (self.data_dir / f"worker-{len(self.processes)}.log").open("wb")
            process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "db_worker",
                    "--no-reload",
                    "--interval",
                    str(interval),
                    "--no-startup-delay",
                ],
                cwd=ROOT,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.processes.append(process)
            started.append(process)
        self._wait_ready(started)
        return started

    def _wait_ready(self, processes: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
        """Until each has written its first heartbeat: booting (Django, pydicom with numpy) takes
        a second or more on a loaded machine, which tests with a short retry window can't spare."""
        from dicom_api.models import WorkerHeartbeat

        pids = {process.pid for process in processes}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(WorkerHeartbeat.objects.filter(pid__in=pids).values_list("pid", flat=True)) == pids:
                return
            if any(process.poll() is not None for process in processes):
                return  # it died: the test says what it expected
            time.sleep(0.05)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL, as a crash or the OOM killer would: no clean-up runs."""
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # A killed worker's dcmsend may outlive it for a moment: make sure no child is left.
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.data_dir.glob("worker-*.log")))
