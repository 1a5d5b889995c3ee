"""``dicomnet.storescu`` and ``echoscu`` over DICOM TLS, against ``storescp +tls`` on 127.0.0.1 with
certificates made in the test with ``openssl``: what arrived, by SOP Instance UID and syntax."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomnet import storescu
from dicomnet.association import AssociationRequest
from dicomnet.dcmsend import Failure
from dicomnet.echoscu import EchoCategory, echo
from dicomnet.tls import Profile, TlsOptions
from testsupport.dicom_data import generate_series
from testsupport.peers import LOOPBACK
from testsupport.tls_peers import Identity, Pki, require, tls_storescp

TIMEOUTS = {"connect_timeout": 5, "acse_timeout": 5, "dimse_timeout": 10}
COMPRESSED_SAMPLES = ("SC_rgb_jpeg_dcmtk.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_gdcm.dcm")


@dataclass
class Certificates:
    ca: Identity
    other_ca: Identity
    server: Identity
    client: Identity


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    require("openssl", "storescp", "storescu", "echoscu")
    made = Pki(tmp_path_factory.mktemp("pki"))
    ca, other = made.ca("ours"), made.ca("other")
    return Certificates(ca, other, made.issue("server", ca), made.issue("client", ca, san="DNS:client.example"))


def request(port: int, **changes: Any) -> AssociationRequest:
    values: dict[str, Any] = {"host": LOOPBACK, "calling_ae": "US", **TIMEOUTS, **changes}
    return AssociationRequest(called_ae="TLSSCP", port=port, **values)


def options(ca: Identity, client: Identity | None = None, profile: Profile = Profile.BCP195_ND) -> TlsOptions:
    if client is None:
        return TlsOptions(profile, ca.certificate)
    return TlsOptions(profile, ca.certificate, client.certificate, client.key)


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[list[Path], dict[str, str]]]:
    """12 CT instances and pydicom's compressed samples: SOP Instance UID → transfer syntax."""
    series = generate_series(tmp_path / "src", 12)
    paths = list(series.files)
    for name in COMPRESSED_SAMPLES:
        copy = tmp_path / "src" / name
        shutil.copyfile(get_testdata_file(name), copy)
        paths.append(copy)
    expected = {}
    for path in paths:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        expected[str(dataset.SOPInstanceUID)] = str(dataset.file_meta.TransferSyntaxUID)
    yield paths, expected


def test_a_send_over_tls_arrives_complete_each_file_in_its_own_syntax(
    tmp_path: Path, pki: Certificates, files: tuple[list[Path], dict[str, str]]
) -> None:
    paths, expected = files
    ticks: list[tuple[int, int]] = []
    decided: list[int] = []
    with tls_storescp(tmp_path / "rx", pki.server, trusted=pki.ca) as scp:
        report = storescu.send_files_tls(
            files=paths,
            request=request(scp.port),
            tls=options(pki.ca, profile=Profile.BCP195),
            program="storescu",
            on_progress=lambda a, r: ticks.append((a, r)) or True,
            tick=0.01,
            on_files=lambda outcomes: decided.extend(o.index for o in outcomes),
            work_dir=tmp_path,
        )
        received = scp.received()
    assert (report.success, report.acknowledged, report.refused, report.failure) == (True, len(paths), 0, None)
    # Every instance, the compressed ones (JPEG baseline, RLE, JPEG 2000, JPEG lossless) in their own syntax.
    assert received == expected
    assert {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.91"} <= set(received.values())
    assert sorted(decided) == list(range(len(paths)))
    assert [o.status for o in sorted(report.files, key=lambda o: o.index)] == [0] * len(paths)


def test_a_server_certificate_from_another_ca_fails_clearly_and_sends_nothing(
    tmp_path: Path, pki: Certificates, files: tuple[list[Path], dict[str, str]]
) -> None:
    paths, _ = files
    with tls_storescp(tmp_path / "rx", pki.server, trusted=pki.ca) as scp:
        report = storescu.send_files_tls(
            files=paths, request=request(scp.port), tls=options(pki.other_ca), program="storescu"
        )
        echoed = echo(request(scp.port), program="echoscu", tls=options(pki.other_ca))
        assert scp.received() == {}
    assert report.failure is Failure.TLS and not report.failure.transient
    assert "not signed by any of the destination's CA certificates" in report.detail
    assert (report.acknowledged, report.files) == (0, [])
    assert echoed.category is EchoCategory.TLS and not echoed.success
    assert "CA that issued it" in echoed.message


def test_an_expired_server_certificate_and_one_for_another_name_are_named(
    tmp_path: Path, pki: Certificates, files: tuple[list[Path], dict[str, str]]
) -> None:
    made = Pki(tmp_path / "more")
    expired = made.issue("expired", pki.ca, expired=True)
    elsewhere = made.issue("elsewhere", pki.ca, san="DNS:pacs.elsewhere.example")
    paths, _ = files
    with (
        tls_storescp(tmp_path / "a", expired, trusted=pki.ca) as old,
        tls_storescp(tmp_path / "b", elsewhere, trusted=pki.ca) as other,
    ):
        late = storescu.send_files_tls(files=paths, request=request(old.port), tls=options(pki.ca), program="storescu")
        wrong = storescu.send_files_tls(
            files=paths, request=request(other.port), tls=options(pki.ca), program="storescu"
        )
        echo_late = echo(request(old.port), program="echoscu", tls=options(pki.ca))
        echo_wrong = echo(request(other.port), program="echoscu", tls=options(pki.ca))
        assert old.received() == {} and other.received() == {}
    assert late.failure is Failure.TLS and "has expired" in late.detail
    assert echo_late.category is EchoCategory.TLS and "has expired" in echo_late.message
    # DCMTK 3.6.7 itself accepts a certificate for another name; our check before it does not.
    assert wrong.failure is Failure.TLS and f"was not issued for '{LOOPBACK}'" in wrong.detail
    assert echo_wrong.category is EchoCategory.TLS and "host name its certificate names" in echo_wrong.message


def test_mutual_tls_works_with_the_client_certificate_and_fails_without_it(
    tmp_path: Path, pki: Certificates, files: tuple[list[Path], dict[str, str]]
) -> None:
    paths, expected = files
    stranger = Pki(tmp_path / "stranger").issue("stranger", pki.other_ca, san="DNS:stranger.example")
    with tls_storescp(tmp_path / "rx", pki.server, trusted=pki.ca, require_client_certificate=True) as scp:
        without = storescu.send_files_tls(
            files=paths, request=request(scp.port), tls=options(pki.ca), program="storescu"
        )
        refused = storescu.send_files_tls(
            files=paths, request=request(scp.port), tls=options(pki.ca, stranger), program="storescu"
        )
        echo_without = echo(request(scp.port), program="echoscu", tls=options(pki.ca))
        assert scp.received() == {}
        echoed = echo(request(scp.port), program="echoscu", tls=options(pki.ca, pki.client))
        report = storescu.send_files_tls(
            files=paths, request=request(scp.port), tls=options(pki.ca, pki.client), program="storescu"
        )
        received = scp.received()
    assert without.failure is Failure.TLS and "requires a client certificate" in without.detail
    assert echo_without.category is EchoCategory.TLS and "requires a client certificate" in echo_without.message
    assert refused.failure is Failure.TLS and "does not accept this installation's client certificate" in refused.detail
    assert echoed.success, echoed.message
    assert report.success and received == expected


def test_cancel_stops_storescu_at_once_and_keeps_what_was_decided(tmp_path: Path, pki: Certificates) -> None:
    series = generate_series(tmp_path / "src", 400)
    decided: list[int] = []
    with tls_storescp(tmp_path / "rx", pki.server, trusted=pki.ca) as scp:
        report = storescu.send_files_tls(
            files=series.files,
            request=request(scp.port),
            tls=options(pki.ca),
            program="storescu",
            on_progress=lambda acknowledged, refused: acknowledged < 20,
            tick=0.01,
            on_files=lambda outcomes: decided.extend(o.index for o in outcomes if o.status == 0),
        )
        received = scp.received()
    assert report.failure is Failure.CANCELLED
    assert 20 <= report.acknowledged < 400
    # What the ledger is told was acknowledged did arrive; the rest stays to be sent.
    assert {series.sop_instance_uids[i] for i in decided} <= set(received)
    assert len(decided) == report.acknowledged < 400


def test_a_damaged_file_fails_alone_and_the_others_arrive(tmp_path: Path, pki: Certificates) -> None:
    series = generate_series(tmp_path / "src", 4)
    junk = tmp_path / "src" / "junk.dcm"
    junk.write_bytes(b"not DICOM at all")
    paths = [series.files[0], junk, *series.files[1:]]
    with tls_storescp(tmp_path / "rx", pki.server, trusted=pki.ca) as scp:
        report = storescu.send_files_tls(
            files=paths, request=request(scp.port), tls=options(pki.ca), program="storescu"
        )
        received = scp.received()
    assert set(received) == set(series.sop_instance_uids)
    assert report.failure is Failure.UNSENDABLE
    (bad,) = [o for o in report.files if not o.sent]
    assert bad.index == 1 and "could not be read" in bad.text
