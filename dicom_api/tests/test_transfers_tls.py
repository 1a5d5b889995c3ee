"""Transfers and connection tests to DICOM TLS destinations, end to end: destinations set up through
the API, real workers, ``storescp +tls`` with certificates made by ``openssl`` in the test; what
arrived is checked by SOP Instance UID, and the client key is looked for in every answer and log."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.contrib.auth.models import User
from pydicom.data import get_testdata_file
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Action, TransferLog
from dicom_api.tests.test_transfers_worker import _log_text, send, wait_for, workers  # noqa: F401 - fixture
from testsupport.dicom_data import generate_series, import_files
from testsupport.peers import LOOPBACK
from testsupport.tls_peers import Identity, Pki, require, tls_storescp
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PATIENT = "TLS^TRANSFER^PATIENT"


class Made:
    def __init__(self, directory: Path) -> None:
        require("openssl", "storescp", "storescu", "echoscu")
        pki = Pki(directory)
        self.ca, self.other_ca = pki.ca("ours"), pki.ca("other")
        self.server = pki.issue("server", self.ca)
        self.foreign_server = pki.issue("foreign", self.other_ca)
        self.client = pki.issue("client", self.ca, san="DNS:client.example")


@pytest.fixture
def made(tmp_path: Path) -> Made:
    return Made(tmp_path / "pki")


def tls_destination(client: APIClient, name: str, port: int, made: Made, *, mutual: bool) -> Destination:
    tls: dict[str, Any] = {"ca_certificates": made.ca.certificate_pem}
    if mutual:
        tls |= {"client_certificate": made.client.certificate_pem, "client_key": made.client.key_pem}
    body = {"name": name, "ae_title": "TLSSCP", "host": LOOPBACK, "port": port, "tls": tls}
    response = client.post("/api/destinations/", body, format="json")
    assert response.status_code == 201, response.content
    return Destination.objects.get(pk=response.json()["id"])


def key_line(identity: Identity) -> str:
    lines = identity.key_pem.splitlines()
    return lines[len(lines) // 2]


def test_a_series_sent_over_mutual_tls_arrives_complete_and_the_key_is_nowhere(
    tmp_path: Path, user: User, client_user: APIClient, client_admin: APIClient, made: Made,
    workers: Callable[..., Workers],  # noqa: F811
) -> None:  # fmt: skip
    series = generate_series(tmp_path / "src", 20, patient_name=PATIENT)
    # A compressed instance, in the same series, arrives in its own syntax.
    jpeg = tmp_path / "src" / "jpeg.dcm"
    shutil.copyfile(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"), jpeg)
    jpeg_uid = str(pydicom.dcmread(jpeg, stop_before_pixels=True).SOPInstanceUID)
    session = import_files(user, [*series.files, jpeg], series_override=series.series_instance_uid)
    with tls_storescp(tmp_path / "rx", made.server, trusted=made.ca, require_client_certificate=True) as scp:
        target = tls_destination(client_admin, "tls-pacs", scp.port, made, mutual=True)
        echoed = client_user.post(f"/api/destinations/{target.pk}/test_connection/")
        pool = workers(1)
        (transfer_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (log,) = wait_for([transfer_id], {"success", "failed"}, timeout=90)
        received = scp.received()
        status = client_user.get("/api/dicom/status/")
        ledger = client_user.get(f"/api/dicom/transfers/{transfer_id}/instances/")
        answers = [echoed.content, status.content, ledger.content, client_admin.get("/api/destinations/").content]
    assert echoed.status_code == 200 and echoed.json()["success"] is True, echoed.content
    assert log.status == "success", log.error_message
    assert set(received) == {*series.sop_instance_uids, jpeg_uid}
    assert received[jpeg_uid] == "1.2.840.10008.1.2.4.50"
    assert (log.instances_sent, log.instances_failed) == (21, 0)
    assert ledger.json()["count"] == 21 and {r["outcome"] for r in ledger.json()["results"]} == {"acknowledged"}
    # The key: in its file only. Not in an answer, the application log, the workers' output, the audit.
    secret = key_line(made.client)
    assert all(secret.encode() not in answer for answer in answers)
    pool.stop()
    assert secret not in pool.output() + _log_text(tmp_path)
    audit = "".join(str(row) for row in TransferLog.objects.values_list("details", "error_message"))
    assert secret not in audit


def test_a_server_certificate_from_another_ca_fails_at_once_with_a_clear_message(
    tmp_path: Path, user: User, client_user: APIClient, client_admin: APIClient, made: Made,
    workers: Callable[..., Workers],  # noqa: F811
) -> None:  # fmt: skip
    series = generate_series(tmp_path / "src", 5, patient_name=PATIENT)
    session = import_files(user, series.files)
    with tls_storescp(tmp_path / "rx", made.foreign_server, trusted=made.ca) as scp:
        target = tls_destination(client_admin, "foreign", scp.port, made, mutual=False)
        echoed = client_user.post(f"/api/destinations/{target.pk}/test_connection/")
        workers(1)
        (transfer_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (log,) = wait_for([transfer_id], {"success", "failed"}, timeout=60)
        assert scp.received() == {}
    assert echoed.json()["success"] is False
    assert "not signed by any of the destination's CA certificates" in echoed.json()["message"]
    entry = TransferLog.objects.get(action=Action.TEST_CONNECTION)
    assert entry.details["category"] == "tls"
    # Permanent: failed after one attempt, not queued again.
    assert log.status == "failed" and log.attempt == 1
    assert "not signed by any of the destination's CA certificates" in log.error_message
    assert "add the certificate of the CA that issued it" in log.error_message
    assert log.details["attempts"][-1]["outcome"] == "tls"


def test_mutual_tls_without_the_client_certificate_fails_clearly(
    tmp_path: Path, user: User, client_user: APIClient, client_admin: APIClient, made: Made,
    workers: Callable[..., Workers],  # noqa: F811
) -> None:  # fmt: skip
    series = generate_series(tmp_path / "src", 3, patient_name=PATIENT)
    session = import_files(user, series.files)
    with tls_storescp(tmp_path / "rx", made.server, trusted=made.ca, require_client_certificate=True) as scp:
        target = tls_destination(client_admin, "needs-cert", scp.port, made, mutual=False)
        echoed = client_user.post(f"/api/destinations/{target.pk}/test_connection/")
        workers(1)
        (transfer_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (log,) = wait_for([transfer_id], {"success", "failed"}, timeout=60)
        assert scp.received() == {}
    assert "requires a client certificate" in echoed.json()["message"]
    assert log.status == "failed" and log.attempt == 1
    assert "requires a client certificate" in log.error_message


def test_a_series_split_over_four_tls_associations_arrives_complete(
    tmp_path: Path, user: User, client_user: APIClient, client_admin: APIClient, made: Made,
    workers: Callable[..., Workers], settings: Any,  # noqa: F811
) -> None:  # fmt: skip
    settings.TRANSFER_MAX_CONCURRENT_PER_DESTINATION = 4
    series = generate_series(tmp_path / "src", 60, patient_name=PATIENT)
    session = import_files(user, series.files)
    with tls_storescp(tmp_path / "rx", made.server, trusted=made.ca, extra_args=["--fork"]) as scp:
        target = tls_destination(client_admin, "tls-wan", scp.port, made, mutual=False)
        answer = client_admin.patch(f"/api/destinations/{target.pk}/", {"max_associations": 4}, format="json")
        assert answer.status_code == 200, answer.content
        workers(1, TRANSFER_MAX_CONCURRENT_PER_DESTINATION="4")
        (transfer_id,) = send(client_user, session, [series.series_instance_uid], [target])
        (log,) = wait_for([transfer_id], {"success", "failed"}, timeout=90)
        received = scp.received()
    assert (log.status, log.instances_sent) == ("success", 60), log.error_message
    assert set(received) == set(series.sop_instance_uids)
    assert log.details["attempts"][-1]["associations"] == 4


def test_the_connection_test_probes_over_tls_and_a_send_follows_what_it_found(
    tmp_path: Path, user: User, client_user: APIClient, client_admin: APIClient, made: Made,
    workers: Callable[..., Workers],  # noqa: F811
) -> None:  # fmt: skip
    # storescp +xi: implicit VR little endian only. A JPEG 2000 instance stored in its own syntax
    # must then leave as a decoded copy, which only the probe's record (over TLS) can tell.
    j2k = tmp_path / "src" / "j2k.dcm"
    j2k.parent.mkdir(parents=True)
    shutil.copyfile(get_testdata_file("MR_small_jp2klossless.dcm"), j2k)
    original = pydicom.dcmread(j2k)
    session = import_files(user, [j2k])
    with tls_storescp(
        tmp_path / "rx", made.server, trusted=made.ca, require_client_certificate=True, extra_args=["+xi"]
    ) as scp:
        target = tls_destination(client_admin, "tls-implicit", scp.port, made, mutual=True)
        echoed = client_user.post(f"/api/destinations/{target.pk}/test_connection/")
        listed = client_user.get(f"/api/destinations/{target.pk}/").json()["accepted_transfer_syntaxes"]
        workers(1)
        (transfer_id,) = send(client_user, session, [str(original.SeriesInstanceUID)], [target])
        (log,) = wait_for([transfer_id], {"success", "failed"}, timeout=90)
        received = scp.received()
        arrived = [pydicom.dcmread(p) for p in scp.directory.iterdir() if p.is_file()]
    assert echoed.status_code == 200 and echoed.json()["success"] is True, echoed.content
    assert listed["probed_at"] and listed["message"] == ""
    by_class = {entry["uid"]: [s["uid"] for s in entry["transfer_syntaxes"]] for entry in listed["sop_classes"]}
    assert by_class["1.2.840.10008.5.1.4.1.1.4"] == ["1.2.840.10008.1.2"]  # MR Image Storage: implicit only
    entry = TransferLog.objects.get(action=Action.TEST_CONNECTION)
    assert entry.details["accepted_transfer_syntaxes"]["accepting_any"] > 0
    assert log.status == "success", log.error_message
    assert received == {str(original.SOPInstanceUID): "1.2.840.10008.1.2"}
    assert (arrived[0].pixel_array == original.pixel_array).all()
    assert log.details["transcoded"] == [{"from": "1.2.840.10008.1.2.4.90", "to": "1.2.840.10008.1.2", "instances": 1}]
