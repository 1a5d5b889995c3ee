"""`make run`'s script (scripts/run.sh) started for real by a test module, and how a test talks
to it: HTTP as a browser would, its SQLite database read directly, its processes found in /proc."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a-long-test-password-for-run"
# Variables of the test run that `make run` must not see (it uses its SQLite default).
NOT_INHERITED = ("DATABASE_URL", "DEBUG", "SECRET_KEY", "DATA_DIR", "ENV_FILE", "ACCESS_LOG", "TMPDIR")


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    data_dir: Path
    base: str
    output: Path
    temp_dir: Path  # the service's TMPDIR: tempfile.gettempdir() of every process it runs

    def request(
        self, method: str, path: str, body: bytes | None = None, *, token: str | None = None, **options: Any
    ) -> tuple[int, bytes, dict[str, str]]:
        request = urllib.request.Request(self.base + path, data=body, method=method)  # noqa: S310
        if body is not None:
            request.add_header("Content-Type", options.get("content_type", "application/json"))
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=options.get("timeout", 30)) as response:  # noqa: S310
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def get(self, path: str, token: str | None = None, timeout: float = 2) -> tuple[int, bytes]:
        status, body, _ = self.request("GET", path, token=token, timeout=timeout)
        return status, body

    def post(self, path: str, body: bytes, content_type: str, token: str | None = None) -> tuple[int, bytes]:
        status, answer, _ = self.request("POST", path, body, token=token, content_type=content_type)
        return status, answer

    def json(self, method: str, path: str, data: object = None, *, token: str | None = None) -> tuple[int, Any]:
        body = None if data is None else json.dumps(data).encode()
        status, answer, _ = self.request(method, path, body, token=token)
        return status, json.loads(answer) if answer else None

    def health(self) -> int:
        try:
            return self.get("/api/health/", timeout=1)[0]
        except OSError:
            return 0

    def query(self, sql: str, *parameters: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.data_dir / "db.sqlite3", timeout=5) as db:
            return list(db.execute(sql, parameters))

    def heartbeat_pids(self) -> set[int]:
        return {row[0] for row in self.query("SELECT pid FROM dicom_api_workerheartbeat")}

    def children(self) -> dict[int, str]:
        """The supervised processes: pid → command line."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid:
                found[int(entry.name)] = cmdline
        return found

    def web_pid(self) -> int:
        return next(pid for pid, cmdline in self.children().items() if "gunicorn" in cmdline)

    def web_restarted(self, old: int) -> bool:
        """A new web process (not ``old``) runs."""
        return any(pid != old for pid, cmdline in self.children().items() if "gunicorn" in cmdline)

    def web_replaced(self, old: int) -> bool:
        """A new web process (not ``old``) runs and answers: checked in that order, as the killed
        one's orphaned gunicorn workers answer until the supervisor has killed them."""
        return self.web_restarted(old) and self.health() == 200

    def worker_pids(self) -> set[int]:
        return {pid for pid, cmdline in self.children().items() if "db_worker" in cmdline}


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> float:
    """Seconds until ``condition()`` was true; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started


# A replaced process is started again at once (the supervisor, within 5 s: asserted); it is ready
# (Django imported, a heartbeat written, or /api/health/ answered) about 1-3 s later on an idle
# machine, but a start of Python and Django on two cores shared with a dozen busy processes has
# been seen to take over 5 s: readiness is allowed this long, and both times are printed.
READY_WITHIN = 30.0


def replaced(started: Callable[[], object], ready: Callable[[], object]) -> tuple[float, float]:
    """Seconds until the replacement of a killed process ran (at most 5) and until it was ready."""
    restarted = wait_for(started, timeout=5)
    return restarted, restarted + wait_for(ready, timeout=READY_WITHIN)


@contextlib.contextmanager
def make_run(tmp_path_factory: pytest.TempPathFactory, **settings: str) -> Iterator[Running]:
    """scripts/run.sh on a free port with an empty DATA_DIR, 2 workers and 1 web process (unless
    ``settings`` say otherwise: environment variables of the service); killed (its whole process
    group) at the end if a test did not stop it."""
    from testsupport.peers import free_port

    data_dir = tmp_path_factory.mktemp("make-run") / "data"
    temp_dir = data_dir.parent / "system-temp"
    temp_dir.mkdir()
    output = data_dir.parent / "run.log"
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    environment.update(
        DATA_DIR=str(data_dir),
        PORT=str(port),
        HOST="127.0.0.1",
        WORKERS="2",
        WEB_PROCESSES="1",
        ADMIN_USERNAME="runner",
        ADMIN_PASSWORD=PASSWORD,
        WORKER_HEARTBEAT_INTERVAL="0.5",
        ENV_FILE=str(data_dir.parent / "no.env"),
        TMPDIR=str(temp_dir),
    )
    environment.update(settings)
    with output.open("wb") as log:
        process = subprocess.Popen(
            ["scripts/run.sh"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A permissive umask, as a login shell often has: the service must not depend on it.
            preexec_fn=lambda: os.umask(0o022),
        )
    run = Running(process=process, data_dir=data_dir, base=f"http://127.0.0.1:{port}", output=output, temp_dir=temp_dir)
    try:
        wait_for(lambda: process.poll() is not None or run.health() == 200, timeout=120, interval=0.5)
        assert process.poll() is None, output.read_text()
        wait_for(lambda: len(run.heartbeat_pids()) == int(environment["WORKERS"]), timeout=10)
        yield run
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def login(run: Running, username: str = "runner", password: str = PASSWORD) -> str:
    status, body = run.json("POST", "/api/auth/login/", {"username": username, "password": password})
    assert status == 200, body
    return str(body["access"])


def multipart(files: list[Path]) -> tuple[bytes, str]:
    """A browser's upload of ``files`` (field ``files``): the body and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for path in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
            "Content-Type: application/dicom\r\n\r\n".encode()
            + path.read_bytes()
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(run: Running, token: str, files: list[Path]) -> dict[str, Any]:
    body, content_type = multipart(files)
    status, answer = run.post("/api/dicom/import/", body, content_type, token=token)
    assert status == 201, answer
    result: dict[str, Any] = json.loads(answer)
    assert result["instance_count"] == len(files)
    return result


@dataclass
class HealthWatch:
    """``/api/health/`` polled every 0.2 s in the background: (seconds it took, status) of each."""

    run: Running
    answers: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            started = time.monotonic()
            status = self.run.health()
            self.answers.append((time.monotonic() - started, status))

    @contextlib.contextmanager
    def watching(self) -> Iterator[HealthWatch]:
        thread = threading.Thread(target=self._poll, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def slow_or_failed(self) -> list[tuple[float, int]]:
        return [(round(took, 2), status) for took, status in self.answers if status != 200 or took >= 1]
