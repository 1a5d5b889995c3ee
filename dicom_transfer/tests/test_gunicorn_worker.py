"""The web worker that reads a request before a thread takes it (dicom_transfer/gunicorn_worker.py),
in a real gunicorn: keep-alive, bodies in one piece or trickled, and when a request streams."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicom_transfer.gunicorn_worker import request_is_ready
from testsupport.peers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_a_request_is_ready_when_its_headers_and_small_body_are_in() -> None:
    head = b"POST /api/auth/login/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n"
    assert request_is_ready(head[:20], 100) == (False, False)
    assert request_is_ready(head + b"{}", 100) == (False, False)
    assert request_is_ready(head + b"{ }}", 100) == (True, False)
    assert request_is_ready(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 100) == (True, False)
    # Streams: a body over the limit, chunked, or after 100-continue.
    assert request_is_ready(head.replace(b": 4", b": 101"), 100) == (True, True)
    assert request_is_ready(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 100) == (True, True)
    assert request_is_ready(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 100) == (
        True,
        True,
    )
    # Headers that never end are handed to gunicorn's parser past its limit (it refuses them).
    assert request_is_ready(b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, 100) == (True, False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    data_dir = tmp_path_factory.mktemp("gunicorn-worker")
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    environment.update(DEBUG="1", DATA_DIR=str(data_dir), ENV_FILE=str(data_dir / "no.env"))
    for command in (["migrate"], ["createcachetable"]):
        subprocess.run([sys.executable, "manage.py", *command, "-v", "0"], cwd=ROOT, env=environment, check=True)
    port = free_port()
    process = subprocess.Popen(
        [
            *(str(Path(sys.executable).parent / "gunicorn"), "dicom_transfer.wsgi:application"),
            *("--config", "python:dicom_transfer.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "1"),
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        # The worker loads the application on its first request (Django, pydicom with numpy: a few
        # seconds on a loaded machine); the tests' 5 s timeouts are for the behaviour under test.
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=60).close()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_keep_alive_requests_with_bodies_on_one_connection(server: int) -> None:
    # What is checked is the connection kept alive, not speed: the first schema takes seconds to
    # generate in a fresh process on a loaded machine.
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    for attempt in range(3):
        body = json.dumps({"username": f"nobody{attempt}", "password": "wrong"})
        connection.request("POST", "/api/auth/login/", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 401, response.read()
        assert "detail" in json.loads(response.read())
        connection.request("GET", "/api/schema/?format=json")
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["info"]["title"] == "DICOM Transfer API"
    connection.close()


def test_a_body_trickled_byte_by_byte_is_answered_once_complete(server: int) -> None:
    body = json.dumps({"username": "nobody", "password": "wrong"}).encode()
    with socket.create_connection(("127.0.0.1", server), timeout=5) as client:
        client.sendall(b"POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
        client.sendall(f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        for byte in body:
            client.sendall(bytes([byte]))
            time.sleep(0.005)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401")
    assert b'"detail"' in answer


def test_an_oversized_body_is_refused_without_being_read(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as client:
        client.sendall(b"POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
        client.sendall(b"Content-Length: 100000000\r\n\r\n{")  # 100 MB announced, 1 byte sent
        answer = client.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer
