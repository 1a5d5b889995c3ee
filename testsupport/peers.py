"""Real DICOM peers for tests, started on free ports and stopped afterwards.

Every client points at 127.0.0.1. (DCMTK's storescp 3.6.7 and Orthanc listen on every interface;
tests never send anywhere but loopback.)
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import ssl
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


DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
DICOMWEB_ROOT = "/dicom-web"


def orthanc_binary() -> str:
    return shutil.which("Orthanc") or "/usr/sbin/Orthanc"


@dataclass
class Orthanc:
    ae_title: str
    dicom_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    # With ``users``: HTTP basic authentication on, and our own calls sign in as the first user.
    credentials: tuple[str, str] | None = None
    config_path: Path | None = None
    log_dir: Path | None = None
    environment: dict[str, str] | None = None
    scheme: str = "http"
    ca_file: Path | None = None  # the CA that signed its certificate (``tls``)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb base of its plugin (``dicomweb=True``): STOW-RS at ``{url}/studies``."""
        return self.base + DICOMWEB_ROOT

    def _request(self, method: str, path: str, data: bytes | None = None) -> bytes:
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - our own Orthanc
        if self.credentials is not None:
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file is not None else None
        with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310 - our own Orthanc
            return bytes(response.read())

    def _read(self, path: str) -> bytes:
        return self._request("GET", path)

    def get(self, path: str) -> object:
        return json.loads(self._read(path))

    def _call(self, method: str, path: str, data: bytes | None = None) -> bytes:
        return self._request(method, path, data)

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

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (or, ``kill``, SIGKILL: a crash, at once) and wait for it to end."""
        if kill:
            self.process.kill()
            self.process.wait()
        stop(self.process, timeout=20)

    def start(self) -> None:
        """Start it again after ``stop``, with the same configuration, ports and storage."""
        assert self.config_path is not None and self.log_dir is not None and self.process.poll() is not None
        self.process = _start_orthanc(self.config_path, self.log_dir, self.environment)
        _wait_for_orthanc(self)


def _start_orthanc(config_path: Path, log_dir: Path, environment: dict[str, str] | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [orthanc_binary(), f"--logdir={log_dir}", str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
    )


def _wait_for_orthanc(pacs: Orthanc) -> None:
    wait_for_port(pacs.http_port, timeout=60)
    wait_for_port(pacs.dicom_port, timeout=60)


@contextlib.contextmanager
def orthanc(
    directory: Path,
    ae_title: str = "ORTHANC",
    *,
    check_called_aet: bool = False,
    modalities: dict[str, list[object]] | None = None,
    tcp_nodelay: bool = True,
    dicomweb: bool = False,
    users: dict[str, str] | None = None,
    config: dict[str, object] | None = None,
) -> Iterator[Orthanc]:
    """A real Orthanc (Debian package) with its own storage and configuration.

    ``modalities`` are the peers it may send to (``{"name": [ae, host, port]}``); ``tcp_nodelay``
    puts TCP_NODELAY=1 in its environment (DCMTK inside it leaves Nagle on otherwise); ``config``
    adds or overrides configuration options (e.g. ``AcceptedTransferSyntaxes``, ``DicomThreadsCount``).
    ``dicomweb`` loads its DICOMweb plugin (Debian ``orthanc-dicomweb``) at ``/dicom-web/``;
    ``users`` (name → password) turns HTTP basic authentication on. (Its own HTTPS is not used:
    Debian 12's Orthanc 1.10.1 crashes on the first HTTPS request; tests put ``proxy.tls_proxy``
    in front of it instead.)
    """
    directory.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = free_port(), free_port()
    plugins: list[str] = []
    if dicomweb:
        if not DICOMWEB_PLUGIN.exists():
            raise FileNotFoundError(f"{DICOMWEB_PLUGIN} is missing: apt-get install orthanc-dicomweb (make setup-dev)")
        plugins.append(str(DICOMWEB_PLUGIN))
    config = {
        "Name": "test-orthanc",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ae_title,
        "DicomCheckCalledAet": check_called_aet,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": bool(users),
        "RegisteredUsers": users or {},
        "SslEnabled": False,
        "Plugins": plugins,
        "DicomWeb": {"Enable": dicomweb, "Root": DICOMWEB_ROOT + "/"},
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
    environment = {key: value for key, value in os.environ.items() if key != "TCP_NODELAY"}
    if tcp_nodelay:
        environment["TCP_NODELAY"] = "1"
    process = _start_orthanc(config_path, log_dir, environment)
    pacs = Orthanc(
        ae_title,
        dicom_port,
        http_port,
        process,
        credentials=next(iter(users.items())) if users else None,
        config_path=config_path,
        log_dir=log_dir,
        environment=environment,
    )
    try:
        _wait_for_orthanc(pacs)
        yield pacs
    finally:
        pacs.stop()


def certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA (its certificate), and a server certificate for 127.0.0.1 it signed, with its key."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl = shutil.which("openssl") or "openssl"
    ca_key, ca_pem = directory / "ca.key", directory / "ca.pem"
    key, request, certificate = directory / "server.key", directory / "server.csr", directory / "server.crt"
    extensions = directory / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_pem),
            "-days",
            "2",
            "-subj",
            "/CN=Test CA",
        ],
        **quiet,
    )  # type: ignore[call-overload]
    subprocess.run(
        [
            openssl,
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(request),
            "-subj",
            "/CN=127.0.0.1",
        ],
        **quiet,
    )  # type: ignore[call-overload]
    subprocess.run(
        [
            openssl,
            "x509",
            "-req",
            "-in",
            str(request),
            "-CA",
            str(ca_pem),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-out",
            str(certificate),
            "-days",
            "2",
            "-extfile",
            str(extensions),
        ],
        **quiet,
    )  # type: ignore[call-overload]
    return ca_pem, certificate, key


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
