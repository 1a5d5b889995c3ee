"""What ``storescu.send_files_tls`` makes of each file when the peer misbehaves, against real peers
over TLS: a ``storescp +tls`` killed in the middle of a send, a pynetdicom SCP (TLS) answering
statuses storescu has no name for, and a server whose only cipher suite is one BCP 195 allows."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.errors import InvalidDicomError

from dicomnet import storescu
from dicomnet.association import AssociationRequest
from dicomnet.dcmsend import Failure
from dicomnet.tls import Profile, TlsOptions, check_server
from testsupport.dicom_data import generate_series
from testsupport.fault_scp import fault_scp
from testsupport.peers import LOOPBACK, free_port, wait_for_port
from testsupport.tls_peers import Identity, Pki, require, tls_storescp

TIMEOUTS = {"connect_timeout": 5, "acse_timeout": 5, "dimse_timeout": 10}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Identity, Identity]:
    require("openssl", "storescp", "storescu")
    made = Pki(tmp_path_factory.mktemp("pki"))
    ca = made.ca("ours")
    return ca, made.issue("server", ca)


def request(port: int, called_ae: str) -> AssociationRequest:
    return AssociationRequest(called_ae=called_ae, port=port, host=LOOPBACK, calling_ae="US", **TIMEOUTS)  # type: ignore[arg-type]


def server_context(server: Identity) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(server.certificate), str(server.key))
    return context


@pytest.mark.slow
def test_a_peer_that_dies_in_the_middle_leaves_the_rest_pending_not_unsendable(
    tmp_path: Path, pki: tuple[Identity, Identity]
) -> None:
    """storescu --no-halt goes on after the connection broke, failing every remaining file with
    ``XMIT: E: Store Failed`` / ``DIMSE Failed to send message`` / ``TCP I/O Error (Broken pipe)``:
    the send must stop as aborted (worth trying again), every file not acknowledged still to send."""
    ca, server = pki
    series = generate_series(tmp_path / "src", 300)
    with tls_storescp(tmp_path / "rx", server, trusted=ca) as scp:

        def progress(acknowledged: int, refused: int) -> bool:
            if acknowledged >= 30 and scp.process.poll() is None:
                scp.process.kill()
                scp.process.wait()
            return True

        report = storescu.send_files_tls(
            files=series.files,
            request=request(scp.port, scp.ae_title),
            tls=TlsOptions(Profile.BCP195_ND, ca.certificate),
            program="storescu",
            on_progress=progress,
            tick=0.01,
            work_dir=tmp_path,
        )
        received = _complete_files(scp.directory)
    assert 30 <= report.acknowledged < 300
    assert report.failure is Failure.ABORTED and report.failure.transient, (report.failure, report.detail)
    assert [o for o in report.files if not o.sent] == []  # nothing is given up for good
    acknowledged = {series.sop_instance_uids[o.index] for o in report.files if o.status == 0}
    assert acknowledged <= received and len(acknowledged) == report.acknowledged


def _complete_files(directory: Path) -> set[str]:
    """The SOP Instance UIDs of the files storescp wrote whole: the one it was writing when it was
    killed is cut short (and was never acknowledged)."""
    found = set()
    for path in directory.iterdir():
        try:
            found.add(str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID))
        except (InvalidDicomError, EOFError, OSError):
            continue
    return found


@pytest.mark.parametrize(
    ("status", "acknowledged"),
    [(0x0110, False), (0x0107, True), (0xA801, False)],
    ids=["processing-failure", "warning-attribute-list", "unnamed-failure"],
)
def test_statuses_storescu_prints_as_unknown_are_kept_and_judged(
    tmp_path: Path, pki: tuple[Identity, Identity], status: int, acknowledged: bool
) -> None:
    """storescu prints a status it has no name for as ``Unknown Status: 0x110`` (no leading
    zeros): the ledger keeps the code, and a warning (0x0107) counts as stored."""
    ca, server = pki
    series = generate_series(tmp_path / "src", 3)
    refused_uid = series.sop_instance_uids[1]
    with fault_scp("TLSFAULT", ssl_context=server_context(server), refuse={refused_uid}, refuse_status=status) as scp:
        report = storescu.send_files_tls(
            files=series.files,
            request=request(scp.port, scp.ae_title),
            tls=TlsOptions(Profile.BCP195_ND, ca.certificate),
            program="storescu",
            work_dir=tmp_path,
        )
    outcome = next(o for o in report.files if o.index == 1)
    assert outcome.status == status, outcome
    assert (report.acknowledged, report.refused) == ((3, 0) if acknowledged else (2, 1))
    if not acknowledged:
        assert report.failure is Failure.INSTANCES_REFUSED
        assert [(i.sop_instance_uid, i.status) for i in report.instances] == [(refused_uid, status)]
    else:
        assert report.failure is None


@pytest.fixture
def legacy_cipher_server(tmp_path: Path, pki: tuple[Identity, Identity]) -> Iterator[int]:
    """``openssl s_server`` offering TLS 1.2 with TLS_RSA_WITH_AES_128_CBC_SHA only: a suite
    DCMTK's BCP 195 profile (``--profile-bcp195``) negotiates, Python's default list does not."""
    _, server = pki
    port = free_port()
    process = subprocess.Popen(
        [shutil.which("openssl") or "openssl", "s_server", "-accept", str(port), "-cert", str(server.certificate),
         "-key", str(server.key), "-tls1_2", "-cipher", "AES128-SHA", "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_the_certificate_check_negotiates_what_dcmtk_would(
    legacy_cipher_server: int, pki: tuple[Identity, Identity]
) -> None:
    """The check before storescu must not refuse a server DCMTK talks to (and must not say it
    wants a client certificate when it does not): it verifies the certificate, and leaves the
    choice of cipher suites to DCMTK's profile."""
    ca, _ = pki
    started = time.monotonic()
    problem = check_server(
        host=LOOPBACK, port=legacy_cipher_server, tls=TlsOptions(Profile.BCP195, ca.certificate), timeout=5
    )
    assert problem is None, problem
    assert time.monotonic() - started < 3
    echoscu = subprocess.run(
        ["echoscu", "-v", "--acse-timeout", "2", "--timeout", "2", "--anonymous-tls",
         "--add-cert-file", str(ca.certificate), "--profile-bcp195", LOOPBACK, str(legacy_cipher_server)],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    # DCMTK does get through the handshake with that suite (the server then speaks no DICOM).
    assert "TLS error" not in echoscu.stdout + echoscu.stderr
