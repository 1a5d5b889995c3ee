"""DICOM TLS for tests: certificate authorities and certificates made with the ``openssl`` command,
and DCMTK's ``storescp +tls`` on 127.0.0.1 with them."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testsupport.peers import LOOPBACK, StoreSCP, free_port, stop, wait_for_port


def require(*programs: str) -> None:
    """Fail in CI, skip loudly elsewhere, when a program the TLS tests need is missing."""
    missing = [program for program in programs if shutil.which(program) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: `make test` installs DCMTK (apt-get install dcmtk openssl)."
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip("LOUD SKIP: " + message)


@dataclass(frozen=True)
class Identity:
    certificate: Path
    key: Path

    @property
    def certificate_pem(self) -> str:
        return self.certificate.read_text()

    @property
    def key_pem(self) -> str:
        return self.key.read_text()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([shutil.which("openssl") or "openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Pki:
    """CAs and certificates under ``directory`` (RSA 2048, SHA-256)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def ca(self, name: str) -> Identity:
        key, certificate = self.directory / f"{name}.key", self.directory / f"{name}.pem"
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-subj", f"/CN=Test CA {name}",
            "-days", "365", "-out", str(certificate), cwd=self.directory,
        )  # fmt: skip
        return Identity(certificate, key)

    def issue(
        self, name: str, ca: Identity, *, san: str = f"IP:{LOOPBACK}", expired: bool = False, days: int = 365
    ) -> Identity:
        """A certificate for ``san`` signed by ``ca``; ``expired``: valid only in January 2020
        (``openssl ca -startdate/-enddate``: OpenSSL 3.0's ``x509`` can't backdate)."""
        key, request, certificate = (self.directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        _openssl(
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-subj", f"/CN={name}",
            "-out", str(request), cwd=self.directory,
        )  # fmt: skip
        if not expired:
            extensions = self.directory / f"{name}.ext"
            extensions.write_text(f"subjectAltName={san}\n")
            _openssl(
                "x509", "-req", "-in", str(request), "-CA", str(ca.certificate), "-CAkey", str(ca.key),
                "-CAcreateserial", "-days", str(days), "-out", str(certificate), "-extfile", str(extensions),
                cwd=self.directory,
            )  # fmt: skip
            return Identity(certificate, key)
        database = self.directory / f"{name}-ca"
        database.mkdir()
        (database / "index.txt").write_text("")
        (database / "serial").write_text("01\n")
        config = database / "ca.cnf"
        config.write_text(
            "[ca]\ndefault_ca = test\n[test]\n"
            f"database = {database}/index.txt\nnew_certs_dir = {database}\nserial = {database}/serial\n"
            "default_md = sha256\npolicy = anything\nunique_subject = no\n"
            f"[anything]\ncommonName = supplied\n[ext]\nsubjectAltName = {san}\n"
        )
        _openssl(
            "ca", "-batch", "-config", str(config), "-cert", str(ca.certificate), "-keyfile", str(ca.key),
            "-in", str(request), "-out", str(certificate), "-startdate", "20200101000000Z",
            "-enddate", "20200201000000Z", "-extensions", "ext", "-notext", cwd=self.directory,
        )  # fmt: skip
        return Identity(certificate, key)


@contextlib.contextmanager
def tls_storescp(
    directory: Path,
    server: Identity,
    *,
    trusted: Identity,
    require_client_certificate: bool = False,
    ae_title: str = "TLSSCP",
) -> Iterator[StoreSCP]:
    """storescp with TLS (BCP 195 non-downgrading, DCMTK's default), writing what it receives
    bit for bit; clients' certificates verified against ``trusted`` and, with
    ``require_client_certificate``, required (``--require-peer-cert``; else ``--verify-peer-cert``:
    checked only when given)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        shutil.which("storescp") or "storescp",
        "--aetitle", ae_title,
        "--output-directory", str(directory),
        "--accept-all",
        "--promiscuous",
        "--bit-preserving",
        "--enable-tls", str(server.key), str(server.certificate),
        "--add-cert-file", str(trusted.certificate),
        "--require-peer-cert" if require_client_certificate else "--verify-peer-cert",
        str(port),
    ]  # fmt: skip
    environment = {**os.environ, "TCP_NODELAY": "1"}
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    try:
        wait_for_port(port)
        yield StoreSCP(ae_title, port, directory, process)
    finally:
        stop(process, timeout=10)
