"""The web application as a real server process (gunicorn with our worker, or ``runserver``) on
the test database, and an HTTP client that can stop sending a request body part of the way.

Django's test client hands the view a whole body; a client that goes away in the middle of an
upload is seen only through a real server reading a real socket.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testsupport.peers import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ("gunicorn", "runserver")


@dataclass(frozen=True)
class LiveApp:
    host: str
    port: int
    data_dir: Path

    def request(self, method: str, path: str, *, token: str = "", body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.request(method, path, data, headers)
            response = connection.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            connection.close()

    def login(self, username: str, password: str) -> str:
        status, body = self.request("POST", "/api/auth/login/", body={"username": username, "password": password})
        assert status == 200, body
        return str(body["access"])

    def upload(self, path: str, token: str, files: list[tuple[str, bytes]]) -> tuple[int, Any]:
        """A whole multipart upload (field ``files``) in one request."""
        boundary, body = multipart_body(files)
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            connection.request("POST", path, body, _upload_headers(token, boundary, len(body)))
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def upload_cut(self, path: str, token: str, files: list[tuple[str, bytes]], *, fraction: float, reset: bool) -> int:
        """Announce the whole multipart body, send ``fraction`` of it, then go away: close the
        socket (FIN), or with ``reset`` abort the connection (RST). Returns the bytes sent."""
        boundary, body = multipart_body(files)
        return self.send_cut("POST", path, _upload_headers(token, boundary, len(body)), body, fraction, reset=reset)

    def send_bytes(self, method: str, path: str, token: str, body: bytes) -> tuple[int, Any]:
        """A request with a raw body (application/octet-stream)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            connection.request(method, path, body, _raw_headers(token, len(body)))
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def send_bytes_cut(self, method: str, path: str, token: str, body: bytes, *, fraction: float) -> int:
        return self.send_cut(method, path, _raw_headers(token, len(body)), body, fraction, reset=False)

    def send_cut(
        self, method: str, path: str, headers: dict[str, str], body: bytes, fraction: float, *, reset: bool
    ) -> int:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        sent = int(len(body) * fraction)
        sock = socket.create_connection((self.host, self.port), timeout=30)
        try:
            sock.sendall(head.encode() + b"\r\n")
            for at in range(0, sent, 64 * 1024):
                sock.sendall(body[at : min(at + 64 * 1024, sent)])
            time.sleep(0.3)  # let the server read what was sent before the connection goes
            if reset:
                # A linger of 0 s: close() sends RST instead of FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            sock.close()
        return sent


def _raw_headers(token: str, length: int) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/octet-stream",
        "Content-Length": str(length),
        "Accept": "application/json",
    }


def _upload_headers(token: str, boundary: str, length: int) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
        "Accept": "application/json",
    }


def multipart_body(files: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """A multipart/form-data body with every file in field ``files``, named by its relative path."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, content in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    return boundary, b"".join(parts) + f"--{boundary}--\r\n".encode()


@contextlib.contextmanager
def live_app(kind: str, *, database_url: str, data_dir: Path) -> Iterator[LiveApp]:
    """Start the app (``gunicorn`` as `make run` does, one process; or ``runserver``) on a free port."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATA_DIR", "DATABASE_URL"}}
    environment.update(
        DEBUG="1",
        DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        ENV_FILE=str(data_dir / "no.env"),
        LOGGING_LEVEL="WARNING",
    )
    if kind == "gunicorn":
        command = [
            *(str(Path(sys.executable).parent / "gunicorn"), "dicom_transfer.wsgi:application"),
            *("--config", "python:dicom_transfer.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "1"),
        ]
    else:
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    log = (data_dir / f"{kind}.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not start; see {data_dir / f'{kind}.log'}") from None
                time.sleep(0.2)
        yield LiveApp("127.0.0.1", port, data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
