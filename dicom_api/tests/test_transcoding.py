"""Sending what the destination accepts (issue 15), against real receivers: an Orthanc that accepts
only uncompressed syntaxes, storescp with a JPEG-LS policy, the probe of storescp +xa and +xi;
real workers send, and the tests decode what arrived."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.models import TransferInstance
from dicom_api.tests.test_transfers_worker import destination, send, wait_for
from testsupport.dicom_data import generate_series, import_files, storage_samples, unique_sops
from testsupport.peers import orthanc, storescp
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

UNCOMPRESSED_ONLY = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]
# pydicom itself cannot decode these two samples (a damaged JPEG scan, a J2K stream cut by a
# delimiter): no copy can be made, and the transfer names them.
UNDECODABLE = {"JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"}


@pytest.fixture
def workers(tmp_path: Path, transactional_db: None) -> Iterator[Callable[..., Workers]]:
    started: list[Workers] = []

    def start(count: int = 1, **overrides: str) -> Workers:
        pool = Workers(tmp_path, **overrides)
        pool.start(count)
        started.append(pool)
        return pool

    yield start
    for pool in started:
        pool.stop()


def _digests(paths: list[Path]) -> dict[Path, str]:
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def _compressed_samples() -> list[Path]:
    found = []
    for path in storage_samples():
        dataset = pydicom.dcmread(path)
        if "PixelData" in dataset and dataset.file_meta.TransferSyntaxUID.is_compressed:
            found.append(path)
    return found


def test_orthanc_accepting_only_uncompressed_receives_every_compressed_sample_decoded(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    samples = _compressed_samples()
    syntaxes = {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID) for p in samples}
    assert {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.80"} <= syntaxes
    assert {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.5"} <= syntaxes
    sessions, series = [], []
    for number, chunk in enumerate(unique_sops(samples), start=1):
        sessions.append(import_files(user, chunk, series_override=f"9.8.{number}"))
        series.append(f"9.8.{number}")
    stored = [path for session in sessions for path in session.directory.rglob("*") if path.is_file()]
    before = _digests(stored)
    with orthanc(tmp_path / "orthanc", config={"AcceptedTransferSyntaxes": UNCOMPRESSED_ONLY}) as pacs:
        target = destination("orthanc-uncompressed", pacs.ae_title, pacs.dicom_port)
        workers(2)
        ids = [
            i
            for session, uid in zip(sessions, series, strict=True)
            for i in send(client_user, session, [uid], [target])
        ]
        logs = wait_for(ids, {"success", "failed"}, timeout=180)
        arrived = pacs.files()
    assert _digests(stored) == before  # the stored import is never changed
    expected: dict[str, Path] = {}
    for path in samples:
        if path.name not in UNDECODABLE:
            expected[str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)] = path
    # Several samples share a SOP Instance UID (one image in several syntaxes): Orthanc keeps one of
    # each, the last received; every one must decode to the same pixels as its original.
    assert set(expected) <= set(arrived)
    for sop, data in arrived.items():
        copy = pydicom.dcmread(io.BytesIO(data))
        assert str(copy.file_meta.TransferSyntaxUID) in UNCOMPRESSED_ONLY, sop
        originals = [p for p in samples if p.name not in UNDECODABLE and str(pydicom.dcmread(p).SOPInstanceUID) == sop]
        assert any(np.array_equal(pydicom.dcmread(p).pixel_array, copy.pixel_array) for p in originals), sop
    # The ledger says, per instance, from which syntax to which; the two undecodable samples fail alone,
    # named with the reason.
    transcoded = TransferInstance.objects.filter(transfer_id__in=ids).exclude(transcoded_to="")
    assert transcoded.count() == len(samples) - len(UNDECODABLE)
    assert set(transcoded.values_list("transcoded_to", flat=True)) <= set(UNCOMPRESSED_ONLY)
    failed = [log for log in logs if log.status != "success"]
    undecodable = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in samples if p.name in UNDECODABLE
    }
    messages = " ".join(log.error_message for log in failed)
    assert failed and all(uid in messages for uid in undecodable), messages
    for log in failed:
        assert "no copy the destination accepts could be made" in log.error_message, log.error_message
        assert "could not be decoded" in log.error_message
        # The others of its series were stored.
        assert log.instances_sent == log.instance_count - sum(uid in log.error_message for uid in undecodable)
    succeeded = [log for log in logs if log.status == "success"]
    assert all(log.details["transcoded"] for log in succeeded)
    assert not list((tmp_path / "staging").glob("*")) if (tmp_path / "staging").exists() else True


def test_jpeg_ls_policy_compresses_ct_losslessly(
    tmp_path: Path, user: User, client_admin: APIClient, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "ct", 40, patient_name="JPEGLS^POLICY")
    session = import_files(user, series.files)
    stored = [path for path in session.directory.rglob("*") if path.is_file()]
    before = _digests(stored)
    with storescp(tmp_path / "scp") as scp:
        target = destination("storescp-jls", scp.ae_title, scp.port)
        response = client_admin.patch(
            f"/api/destinations/{target.pk}/", {"transfer_syntax_policy": "1.2.840.10008.1.2.4.80"}, format="json"
        )
        assert response.status_code == 200, response.content
        workers(1)
        (log,) = wait_for(send(client_user, session, [series.series_instance_uid], [target]), {"success", "failed"})
        received = {
            str(dataset.SOPInstanceUID): (dataset, path)
            for path in scp.directory.iterdir()
            for dataset in [pydicom.dcmread(path)]
        }
    assert log.status == "success", log.error_message
    assert set(received) == set(series.sop_instance_uids)
    for original in series.files:
        source = pydicom.dcmread(original)
        copy, path = received[str(source.SOPInstanceUID)]
        assert str(copy.file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.80"
        assert np.array_equal(copy.pixel_array, source.pixel_array)
        assert path.stat().st_size < original.stat().st_size * 0.8
        assert copy.PatientName == source.PatientName
    assert _digests(stored) == before
    assert log.details["transcoded"] == [
        {"from": "1.2.840.10008.1.2.1", "to": "1.2.840.10008.1.2.4.80", "instances": 40}
    ]
    ledger = client_user.get(f"/api/dicom/transfers/{log.pk}/instances/").json()["results"]
    assert {(row["outcome"], row["transcoded_from"], row["transcoded_to"]) for row in ledger} == {
        ("acknowledged", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.80")
    }


@pytest.mark.parametrize(
    ("option", "ct_syntaxes"),
    [
        ("+xi", ["1.2.840.10008.1.2"]),
        (
            "+xa",
            [
                "1.2.840.10008.1.2",
                "1.2.840.10008.1.2.1",
                "1.2.840.10008.1.2.1.99",
                "1.2.840.10008.1.2.4.50",
                "1.2.840.10008.1.2.4.51",
                "1.2.840.10008.1.2.4.70",
                "1.2.840.10008.1.2.4.80",
                "1.2.840.10008.1.2.4.81",
                "1.2.840.10008.1.2.4.90",
                "1.2.840.10008.1.2.4.91",
                "1.2.840.10008.1.2.5",
            ],
        ),
    ],
)
def test_the_connection_test_records_what_storescp_accepts(
    tmp_path: Path, client_user: APIClient, option: str, ct_syntaxes: list[str]
) -> None:
    with storescp(tmp_path / "scp", extra_args=[option]) as scp:
        target = destination(f"storescp {option}", scp.ae_title, scp.port)
        response = client_user.post(f"/api/destinations/{target.pk}/test_connection/")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    listed = client_user.get(f"/api/destinations/{target.pk}/").json()["accepted_transfer_syntaxes"]
    assert listed == body["accepted_transfer_syntaxes"]
    assert listed["probed_at"] and listed["message"] == ""
    by_class = {entry["uid"]: [s["uid"] for s in entry["transfer_syntaxes"]] for entry in listed["sop_classes"]}
    assert by_class["1.2.840.10008.5.1.4.1.1.2"] == ct_syntaxes  # CT Image Storage
    ct = next(entry for entry in listed["sop_classes"] if entry["uid"] == "1.2.840.10008.5.1.4.1.1.2")
    assert ct["name"] == "CT Image Storage"
    assert ct["transfer_syntaxes"][0]["name"] == "Implicit VR Little Endian"
