"""`make run`'s script (scripts/run.sh) started for real, on a free port with an empty DATA_DIR.

The supervision promises of the README: a worker or web process that dies is replaced within
5 s while the rest keep running; every file under DATA_DIR is private whatever the umask;
`manage.py` works on that installation with no SECRET_KEY exported; Ctrl-C stops everything in
under 5 s without an error line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.make_run_support import (
    NOT_INHERITED,
    PASSWORD,
    ROOT,
    Running,
    login,
    make_run,
    multipart,
    replaced,
    wait_for,
)
from testsupport.dicom_data import generate_series

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with make_run(tmp_path_factory) as run:
        yield run


def test_every_file_under_data_dir_is_private_after_an_import(running: Running, tmp_path: Path) -> None:
    # 40 instances, 1.5 MB: over JSON_MAX_BYTES, so the upload streams to a thread as it arrives.
    series = generate_series(tmp_path / "series", 40, patient_name="PRIVATE^RUN", patient_id="RUN-PRIV-1")
    body, content_type = multipart(series.files)
    status, answer = running.post("/api/dicom/import/", body, content_type, token=login(running))
    assert len(body) > 1024 * 1024
    assert status == 201, answer
    assert json.loads(answer)["instance_count"] == 40
    assert list((running.data_dir / "imports").iterdir()), "the import stored no file"

    exposed = [
        f"{path} {path.stat().st_mode & 0o777:o}"
        for path in [running.data_dir, *running.data_dir.rglob("*")]
        if path.stat().st_mode & 0o077
    ]
    assert exposed == []
    for name in ("db.sqlite3", "db.sqlite3-wal", "secret_key", "logs/dicom_transfer.log"):
        assert (running.data_dir / name).stat().st_mode & 0o777 == 0o600, name


def test_a_killed_worker_is_replaced_within_5_s_and_nothing_else_stops(running: Running) -> None:
    before = running.heartbeat_pids()
    victim, survivor = sorted(before)
    web, workers = running.web_pid(), running.worker_pids()
    os.kill(victim, signal.SIGKILL)

    restarted, ready = replaced(
        lambda: bool(running.worker_pids() - workers), lambda: bool(running.heartbeat_pids() - before)
    )
    newcomer = (running.heartbeat_pids() - before).pop()
    assert Path(f"/proc/{newcomer}").exists(), "the new heartbeat's worker is not running"
    assert running.health() == 200
    # The rest never stopped.
    assert Path(f"/proc/{survivor}").exists() and running.web_pid() == web
    print(f"worker started again in {restarted:.2f} s, beating after {ready:.2f} s")


def test_a_killed_web_process_is_replaced_within_5_s(running: Running) -> None:
    web = running.web_pid()
    workers = {pid for pid, cmdline in running.children().items() if "db_worker" in cmdline}
    os.kill(web, signal.SIGKILL)

    restarted, ready = replaced(lambda: running.web_restarted(web), lambda: running.web_replaced(web))
    assert {pid for pid, cmdline in running.children().items() if "db_worker" in cmdline} == workers
    print(f"web started again in {restarted:.2f} s, answering after {ready:.2f} s")


def test_manage_py_works_on_the_installation_without_an_exported_secret_key(running: Running) -> None:
    environment = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    environment.update(DATA_DIR=str(running.data_dir), ENV_FILE=str(running.data_dir.parent / "no.env"))
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    check_password = (
        "from django.contrib.auth.models import User; "
        f"print(User.objects.get(username='runner').check_password({PASSWORD!r}))"
    )
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-v", "0", "-c", check_password],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"  # it read the installation's database


WAKE_UP_CHECK = """
import time
from django_tasks_db.models import DBTaskResult
from dicom_api.tasks import send_transfer
from dicom_api.wakeup import notify_workers
for _ in range(5):
    time.sleep(0.3)
    result = send_transfer.enqueue(2**62)  # no such transfer: the job ends at once
    notify_workers()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        row = DBTaskResult.objects.get(pk=result.id)
        if row.started_at:
            print(round((row.started_at - row.enqueued_at).total_seconds() * 1000))
            break
        time.sleep(0.005)
    else:
        print("never")
"""


def test_a_queued_job_wakes_an_idle_sqlite_worker_at_once(running: Running) -> None:
    """Workers poll every second; a job still starts within 250 ms (the wake-up socket)."""
    environment = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    environment.update(DATA_DIR=str(running.data_dir), ENV_FILE=str(running.data_dir.parent / "no.env"))
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-v", "0", "-c", WAKE_UP_CHECK],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    latencies = result.stdout.split()
    assert len(latencies) == 5 and "never" not in latencies, result.stdout
    assert max(int(ms) for ms in latencies) < 250, latencies
    # The socket of the worker SIGKILLed above was removed when it refused a wake-up.
    assert len(list((running.data_dir / "wakeup").glob("*.sock"))) == 2


def test_slow_clients_do_not_keep_health_from_answering(running: Running) -> None:
    """20 clients trickle a body to the login (10 more send their headers a byte at a time),
    against one web process of 4 threads: /api/health/ still answers within 1 s."""
    port = int(running.base.rsplit(":", 1)[1])
    slow = []
    for _ in range(20):
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
        client.sendall(b"Content-Length: 1000\r\n\r\n{")
        slow.append(client)
    for _ in range(10):
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"GET /api/health/ HTTP/1.1\r\nHost: 1")
        slow.append(client)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.3):
            for client in slow:
                with contextlib.suppress(OSError):
                    client.send(b" " if slow.index(client) < 20 else b"2")

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(1)  # every slow client has been taken in by now
        for _ in range(5):
            started = time.monotonic()
            assert running.health() == 200
            assert time.monotonic() - started < 2
            time.sleep(0.2)
    finally:
        stop.set()
        trickler.join()
        for client in slow:
            client.close()


def test_ctrl_c_stops_everything_within_5_s_without_an_error_line(running: Running) -> None:
    children = set(running.children())
    assert len(children) == 3
    started = time.monotonic()
    os.killpg(running.process.pid, signal.SIGINT)  # a terminal sends it to the foreground group
    running.process.wait(timeout=10)
    elapsed = time.monotonic() - started
    output = running.output.read_text()
    assert elapsed < 5, output
    assert running.process.returncode == 0, output
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert running.health() == 0
    lines = [line for line in output.splitlines() if "ERROR" in line or "Traceback" in line]
    assert lines == []
    assert "already exists" not in output
    assert '"GET /api/health/' not in output  # no access log by default
    print(f"stopped in {elapsed:.2f} s")


def _gone(pid: int) -> bool:
    """Ended (a zombie not yet reaped by whoever adopted it counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_supervisor_killed_by_sigkill_takes_the_web_and_the_workers_with_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # SIGKILL cannot be caught: the children learn of it from the kernel (their parent-death
    # signal), stop as on Ctrl-C, and leave no web process holding the port for the next start.
    with make_run(tmp_path_factory) as run:
        children = set(run.children())
        assert len(children) == 3
        os.kill(run.process.pid, signal.SIGKILL)
        run.process.wait(timeout=5)
        stopped = wait_for(lambda: all(_gone(pid) for pid in children) and run.health() == 0, timeout=15)
    print(f"web and workers stopped {stopped:.2f} s after the supervisor was killed")
