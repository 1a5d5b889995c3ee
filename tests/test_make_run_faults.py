"""`make run` (scripts/run.sh, for real) through faults while it works (issue 21, "Done when").

One worker SIGKILLed mid-send: the web keeps answering, a worker is back within 5 s, another
worker completes the transfer to a real storescp, and the killed attempt's staging is swept by
the workers' own housekeeping; the same for the web process. After an import, a transfer and the
import's DELETE, nothing the service wrote holds a copy of its files, and nothing under DATA_DIR
is readable by others. Ten "Test connection" calls of a hung destination by five users at once:
the bounds answer 429 with Retry-After at once, and `/api/health/` answers within 1 s throughout.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.make_run_support import HealthWatch, Running, login, make_run, replaced, upload, wait_for
from testsupport.dicom_data import GeneratedSeries, generate_series
from testsupport.hung_peer import hung_peer
from testsupport.peers import LOOPBACK, StoreSCP, storescp
from testsupport.private_files import Fingerprints, copies_of, exposed_paths
from testsupport.proxy import slow_link

pytestmark = pytest.mark.slow

ACSE_TIMEOUT = 5  # how long a connection test of the hung destination holds its web thread


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    # Housekeeping (the sweep of a dead attempt's staging) every 2 s instead of every minute.
    with make_run(tmp_path_factory, HOUSEKEEPING_INTERVAL="2", DICOM_ACSE_TIMEOUT=str(ACSE_TIMEOUT)) as run:
        yield run


@pytest.fixture(scope="module")
def token(running: Running) -> str:
    return login(running)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[StoreSCP]:
    with storescp(tmp_path / "received", "RUNSCP") as scp:
        yield scp


def _destination(run: Running, token: str, name: str, ae_title: str, port: int) -> int:
    status, body = run.json(
        "POST", "/api/destinations/", {"name": name, "ae_title": ae_title, "host": LOOPBACK, "port": port}, token=token
    )
    assert status == 201, body
    return int(body["id"])


def _send(run: Running, token: str, imported: dict[str, Any], series: GeneratedSeries, destination: int) -> int:
    status, body = run.json(
        "POST",
        "/api/dicom/send/",
        {
            "import_id": imported["import_id"],
            "series_instance_uids": [series.series_instance_uid],
            "destination_ids": [destination],
        },
        token=token,
    )
    assert status == 202, body
    (transfer,) = body["transfers"]
    return int(transfer["id"])


def _status(run: Running, token: str, transfer_id: int) -> str:
    status, body = run.json("GET", f"/api/dicom/status/?ids={transfer_id}", token=token)
    assert status == 200, body
    return str(body["transfers"][0]["status"])


def _arrived(scp: StoreSCP) -> int:
    return sum(1 for path in scp.directory.iterdir() if path.is_file())


def _attempts(run: Running, transfer_id: int) -> list[str]:
    import json

    ((details,),) = run.query("SELECT details FROM dicom_api_transferlog WHERE id = ?", transfer_id)
    return [attempt["outcome"] for attempt in json.loads(details)["attempts"]]


def _slow_send(run: Running, token: str, tmp_path: Path, scp: StoreSCP, name: str) -> Iterator[tuple[int, set[str]]]:
    """A 50-instance series sent through a 200 KB/s link to ``scp``; yields (transfer id, its SOP
    Instance UIDs) once 5 instances have arrived, and waits for the transfer's end afterwards."""
    series = generate_series(tmp_path / "series", 50, patient_name=f"{name}^RUN", patient_id=f"RUN-{name}")
    imported = upload(run, token, series.files)
    with slow_link(scp.port, bytes_per_second=200_000) as link:
        transfer_id = _send(run, token, imported, series, _destination(run, token, name, scp.ae_title, link.port))
        wait_for(lambda: _arrived(scp) >= 5, timeout=60)
        assert _status(run, token, transfer_id) == "sending"
        yield transfer_id, set(series.sop_instance_uids)
        wait_for(lambda: _status(run, token, transfer_id) in {"success", "failed"}, timeout=120, interval=0.5)


def test_a_worker_killed_mid_send_is_back_within_5_s_the_web_answers_and_the_transfer_completes(
    running: Running, token: str, tmp_path: Path, receiver: StoreSCP
) -> None:
    sending = _slow_send(running, token, tmp_path, receiver, "WORKERKILL")
    transfer_id, sops = next(sending)
    ((claim,),) = running.query("SELECT claim_token FROM dicom_api_transferlog WHERE id = ?", transfer_id)
    victim = int(claim.split(":")[1])  # host:pid:nonce
    assert victim in running.worker_pids()
    before, web, workers = running.heartbeat_pids(), running.web_pid(), running.worker_pids()
    with HealthWatch(running).watching() as health:
        os.kill(victim, signal.SIGKILL)
        # The staging of the killed attempt, with what it was sending, is left behind.
        assert any(p.name.startswith(f"transfer-{transfer_id}-") for p in (running.data_dir / "staging").iterdir())
        restarted, ready = replaced(
            lambda: bool(running.worker_pids() - workers), lambda: bool(running.heartbeat_pids() - before)
        )
        (newcomer,) = running.heartbeat_pids() - before
        assert newcomer in running.worker_pids()
        next(sending, None)  # the transfer ends: recovered (TRANSFER_STALE_AFTER, 10 s), sent by a worker
    assert _status(running, token, transfer_id) == "success"
    assert set(receiver.received()) == sops
    assert _attempts(running, transfer_id) == ["worker_lost", "success"]
    assert health.slow_or_failed() == [] and len(health.answers) > 20
    assert running.web_pid() == web
    # The workers' housekeeping (every 2 s here) removed the killed attempt's staging.
    wait_for(lambda: list((running.data_dir / "staging").iterdir()) == [], timeout=10)
    print(f"worker started again in {restarted:.2f} s, beating after {ready:.2f} s; health answered all within 1 s")


def test_a_web_process_killed_mid_send_is_back_within_5_s_and_the_transfer_completes(
    running: Running, token: str, tmp_path: Path, receiver: StoreSCP
) -> None:
    sending = _slow_send(running, token, tmp_path, receiver, "WEBKILL")
    transfer_id, sops = next(sending)
    web, workers = running.web_pid(), running.worker_pids()
    os.kill(web, signal.SIGKILL)
    restarted, ready = replaced(lambda: running.web_restarted(web), lambda: running.web_replaced(web))
    assert running.worker_pids() == workers
    assert _status(running, token, transfer_id) == "sending"  # a token of the old web process still works
    next(sending, None)
    assert _status(running, token, transfer_id) == "success"
    assert set(receiver.received()) == sops
    assert _attempts(running, transfer_id) == ["success"]  # the send itself never noticed
    print(f"web started again in {restarted:.2f} s, answering after {ready:.2f} s")


def test_after_an_import_a_transfer_and_its_delete_no_copy_is_left_and_nothing_is_readable_by_others(
    running: Running, token: str, tmp_path: Path, receiver: StoreSCP
) -> None:
    series = generate_series(tmp_path / "series", 30, patient_name="DELETED^RUN", patient_id="RUN-DELETED")
    imported = upload(running, token, series.files)
    stored = running.data_dir / "imports" / imported["import_id"]
    fingerprints = Fingerprints.of([p for p in stored.rglob("*") if p.is_file()], marker="DELETED^RUN")
    assert len(fingerprints.inodes) == 30
    destination = _destination(running, token, "DELETE", "RUNSCP", receiver.port)
    transfer_id = _send(running, token, imported, series, destination)
    wait_for(lambda: _status(running, token, transfer_id) == "success", timeout=60, interval=0.3)
    assert set(receiver.received()) == set(series.sop_instance_uids)
    assert exposed_paths(running.data_dir) == []  # imports, staging, tmp, logs, database, key, static

    status, _ = running.json("DELETE", f"/api/dicom/imports/{imported['import_id']}/", token=token)
    assert status == 204
    assert not stored.exists()
    data = running.data_dir
    assert copies_of(fingerprints, [data / "imports", data / "staging", data / "tmp", data / "logs"]) == []
    assert copies_of(fingerprints, [data], by_name=False) == []  # the database names it in the audit trail
    # The service's system temporary folder (its TMPDIR): nothing of any send of this module,
    # not even of the attempt killed above, was ever written there.
    assert list(running.temp_dir.iterdir()) == []
    assert exposed_paths(running.data_dir) == []


def _operator(run: Running, admin_token: str, username: str) -> str:
    """A new operator, signed in after choosing a password, as the page makes them do."""
    first, chosen = f"first-{username}-password", f"chosen-{username}-password"
    status, body = run.json(
        "POST", "/api/auth/users/", {"username": username, "password": first, "role": "operator"}, token=admin_token
    )
    assert status == 201, body
    status, body = run.json(
        "PATCH",
        "/api/auth/user/update/",
        {"current_password": first, "new_password": chosen},
        token=login(run, username, first),
    )
    assert status == 200, body
    return login(run, username, chosen)


def test_ten_tests_of_a_hung_destination_answer_429_beyond_the_bounds_and_health_answers_within_1_s(
    running: Running, token: str
) -> None:
    """5 users, 2 tests each, at once, against one web process (CONNECTION_TESTS_PER_PROCESS=2)."""
    tokens = [_operator(running, token, f"tester{n}") for n in range(5)]
    answers: list[tuple[int, float, dict[str, str], bytes]] = []
    with hung_peer() as peer, HealthWatch(running).watching() as health:
        destination = _destination(running, token, "hung", "HUNG", peer.port)
        start = threading.Barrier(10)

        def test_connection(user_token: str) -> None:
            start.wait()
            started = time.monotonic()
            status, body, headers = running.request(
                "POST", f"/api/destinations/{destination}/test_connection/", b"", token=user_token
            )
            answers.append((status, time.monotonic() - started, headers, body))

        threads = [threading.Thread(target=test_connection, args=(t,)) for t in tokens * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    refused = [answer for answer in answers if answer[0] == 429]
    held = [answer for answer in answers if answer[0] == 200]
    assert (len(held), len(refused)) == (2, 8), [(a[0], a[3]) for a in answers]
    for _, took, headers, _ in refused:
        assert took < 1
        assert int(headers["Retry-After"]) > 0
    for _, took, _, body in held:
        assert took >= ACSE_TIMEOUT - 0.5  # each held its thread until the DICOM timeout
        assert b'"success":false' in body.replace(b" ", b"")
    assert health.slow_or_failed() == [] and len(health.answers) >= 15
    audited = running.query("SELECT COUNT(*) FROM dicom_api_transferlog WHERE action = 'test_connection'")
    assert audited == [(2,)]  # the refused calls were not tests
    print(f"health answered {len(health.answers)} times, the slowest in {max(t for t, _ in health.answers):.3f} s")


def test_through_these_faults_no_traceback_and_no_patient_data_reached_the_output_or_the_logs(
    running: Running,
) -> None:
    os.killpg(running.process.pid, signal.SIGINT)
    running.process.wait(timeout=10)
    assert running.process.returncode == 0
    text = running.output.read_text() + (running.data_dir / "logs" / "dicom_transfer.log").read_text()
    assert "Traceback" not in text
    assert [line for line in text.splitlines() if " ERROR " in line] == []
    for name in ("WORKERKILL", "WEBKILL", "DELETED^RUN"):
        assert name not in text
    assert "was killed by SIGKILL" in text  # the supervisor's account of the two kills
