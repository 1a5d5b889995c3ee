"""Real DICOM peers for tests, started on free ports and stopped afterwards.

Every client points at 127.0.0.1. (DCMTK's storescp 3.6.7 and Orthanc listen on every interface;
tests never send anywhere but loopback.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {LOOPBACK}:{port} after {timeout} s")


def stop(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class StoreSCP:
    """DCMTK storescp writing every instance it receives, bit for bit, into ``directory``."""

    ae_title: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def received(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for path in self.directory.iterdir():
            if path.is_file():
                dataset = pydicom.dcmread(path, stop_before_pixels=True)
                found[str(dataset.SOPInstanceUID)] = str(dataset.file_meta.TransferSyntaxUID)
        return found


@contextlib.contextmanager
def storescp(directory: Path, ae_title: str = "STORESCP", *, extra_args: list[str] | None = None) -> Iterator[StoreSCP]:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        shutil.which("storescp") or "storescp",
        "--aetitle",
        ae_title,
        "--output-directory",
        str(directory),
        "--accept-all",
        "--promiscuous",
        "--bit-preserving",
        *(extra_args or []),
        str(port),
    ]
    # Without TCP_NODELAY, Debian's DCMTK answers small instances only after delayed ACKs.
    environment = {**os.environ, "TCP_NODELAY": "1"}
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    try:
        wait_for_port(port)
        yield StoreSCP(ae_title, port, directory, process)
    finally:
        stop(process, timeout=10)


@dataclass
class Orthanc:
    ae_title: str
    dicom_port: int
    http_port: int
    process: subprocess.Popen[bytes]

    def _read(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.http_port}{path}", timeout=10) as response:
            return bytes(response.read())

    def get(self, path: str) -> object:
        return json.loads(self._read(path))

    def _call(self, method: str, path: str, data: bytes | None = None) -> bytes:
        request = urllib.request.Request(f"http://{LOOPBACK}:{self.http_port}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http to our own Orthanc
            return bytes(response.read())

    def delete_instance(self, sop_instance_uid: str) -> None:
        """Remove one stored instance through Orthanc's REST API (look it up, then DELETE it)."""
        matches = json.loads(self._call("POST", "/tools/lookup", sop_instance_uid.encode()))
        (match,) = [m for m in matches if m["Type"] == "Instance"]
        self._call("DELETE", match["Path"])

    def files(self) -> dict[str, bytes]:
        """SOP Instance UID → the file Orthanc stored, as it stored it."""
        instances = self.get("/instances?expand")
        assert isinstance(instances, list)
        return {
            instance["MainDicomTags"]["SOPInstanceUID"]: self._read(f"/instances/{instance['ID']}/file")
            for instance in instances
        }

    def received(self) -> dict[str, str]:
        """SOP Instance UID → transfer syntax UID of every instance Orthanc stored."""
        found: dict[str, str] = {}
        instances = self.get("/instances?expand")
        assert isinstance(instances, list)
        for instance in instances:
            syntax = self._read(f"/instances/{instance['ID']}/metadata/TransferSyntax").decode()
            found[instance["MainDicomTags"]["SOPInstanceUID"]] = syntax
        return found


@contextlib.contextmanager
def orthanc(
    directory: Path,
    ae_title: str = "ORTHANC",
    *,
    check_called_aet: bool = False,
    modalities: dict[str, list[object]] | None = None,
    tcp_nodelay: bool = True,
    config: dict[str, object] | None = None,
) -> Iterator[Orthanc]:
    """A real Orthanc (Debian package) with its own storage and configuration.

    ``modalities`` are the peers it may send to (``{"name": [ae, host, port]}``); ``tcp_nodelay``
    puts TCP_NODELAY=1 in its environment (DCMTK inside it leaves Nagle on otherwise); ``config``
    adds or overrides configuration options (e.g. ``AcceptedTransferSyntaxes``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = free_port(), free_port()
    config = {
        "Name": "test-orthanc",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ae_title,
        "DicomCheckCalledAet": check_called_aet,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "SslEnabled": False,
        "Plugins": [],
        "DicomModalities": modalities or {},
        "StorageCompression": False,
        "ConcurrentJobs": 2,
        "HttpTimeout": 30,
        "UnknownSopClassAccepted": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowFind": True,
        "SaveJobs": False,
        **(config or {}),
    }
    config_path = directory / "orthanc.json"
    config_path.write_text(json.dumps(config))
    log_dir = directory / "logs"
    log_dir.mkdir(exist_ok=True)
    binary = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    environment = {key: value for key, value in os.environ.items() if key != "TCP_NODELAY"}
    if tcp_nodelay:
        environment["TCP_NODELAY"] = "1"
    process = subprocess.Popen(
        [binary, f"--logdir={log_dir}", str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **{k: v for k, v in os.environ.items() if k != "TCP_NODELAY"},
            **({"TCP_NODELAY": "1"} if tcp_nodelay else {}),
        },
    )
    try:
        wait_for_port(http_port, timeout=60)
        wait_for_port(dicom_port, timeout=60)
        yield Orthanc(ae_title, dicom_port, http_port, process)
    finally:
        stop(process, timeout=20)


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A TCP listener that accepts connections and never says a word."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((LOOPBACK, 0))
    server.listen(16)
    port = int(server.getsockname()[1])
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
                accepted.append(connection)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in accepted:
            connection.close()
        server.close()


def closed_port() -> int:
    """A port on which nothing listens (connection refused)."""
    return free_port()
