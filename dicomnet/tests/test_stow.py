"""STOW-RS answers as a server gives them (a scripted HTTP server reading real multipart
requests): per-instance outcomes, refusals of a whole request, Retry-After, batching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dicomnet import stow
from dicomnet.dcmsend import Failure
from dicomnet.dicomweb import WebTarget
from testsupport.dicom_data import generate_series
from testsupport.stow_server import stored, stow_server


def send(url: str, files: list[Path], **options: Any) -> Any:
    seen: list[Any] = []
    report = stow.store(files=files, target=WebTarget(url), on_files=seen.extend, **options)
    return report, {outcome.index: outcome for outcome in seen}


def test_each_instance_gets_the_outcome_the_answer_names_in_batches_of_the_set_size(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 5)
    uids = series.sop_instance_uids
    refused, warned = {uids[1]: 0xA700}, {uids[3]: 0xB000}

    def answer(parts: list[str]) -> tuple[int, dict[str, str], Any]:
        return 202, {}, stored(parts, failed={u: c for u, c in refused.items() if u in parts}, warned=warned)

    with stow_server(answer) as server:
        report, outcomes = send(server.url, series.files, batch_instances=2)
    assert server.requests == [uids[0:2], uids[2:4], uids[4:5]]  # in order, two a request
    assert {i: (o.status, o.text) for i, o in outcomes.items()} == {
        0: (0, "Success"),
        1: (0xA700, "Out of resources (0xA700)"),
        2: (0, "Success"),
        3: (0xB000, "Warning: coercion of data elements (0xB000)"),
        4: (0, "Success"),
    }
    assert (report.acknowledged, report.refused, report.failure) == (4, 1, Failure.INSTANCES_REFUSED)


def test_a_batch_never_exceeds_the_byte_limit(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 4)
    size = series.files[0].stat().st_size
    with stow_server(lambda parts: (200, {}, stored(parts))) as server:
        report, _ = send(server.url, series.files, batch_bytes=int(size * 2.5))
    assert [len(r) for r in server.requests] == [2, 2]
    assert report.success


def test_a_409_naming_no_instance_refuses_every_instance_of_the_request(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 2)
    with stow_server(lambda parts: (409, {}, None)) as server:
        report, outcomes = send(server.url, series.files)
    assert [o.text for o in outcomes.values()] == ["Refused by the server (409)"] * 2
    assert (report.refused, report.failure, report.failure.transient) == (2, Failure.INSTANCES_REFUSED, False)


def test_429_is_transient_with_the_servers_retry_after_and_stops_the_send(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 4)
    with stow_server(lambda parts: (429, {"Retry-After": "42"}, None)) as server:
        report, outcomes = send(server.url, series.files, batch_instances=2)
    assert len(server.requests) == 1  # nothing more was sent after it
    assert outcomes == {}
    assert (report.failure, report.retry_after, report.failure.transient) == (Failure.PEER_BUSY, 42.0, True)
    assert report.message == "The server asks us to slow down (429)."


def test_a_refusal_of_the_whole_request_is_permanent_and_says_what_to_check(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 2)
    for status, words in ((401, "refused our credentials (401)"), (403, "refused access (403)"), (404, "URL")):
        with stow_server(lambda parts, status=status: (status, {}, None)) as server:
            report, _ = send(server.url, series.files)
        assert report.failure is Failure.HTTP_REFUSED and not report.failure.transient
        assert words in report.message


def test_a_5xx_is_transient(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 1)
    with stow_server(lambda parts: (500, {}, None)) as server:
        report, _ = send(server.url, series.files)
    assert (report.failure, report.failure.transient, report.message) == (
        Failure.OTHER,
        True,
        "The server failed (500).",
    )


def test_an_answer_that_does_not_name_an_instance_fails_the_send(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 3)
    with stow_server(lambda parts: (200, {}, stored(parts[:2]))) as server:
        report, outcomes = send(server.url, series.files)
    assert sorted(outcomes) == [0, 1]
    assert report.failure is Failure.HTTP_REFUSED
    assert "did not name 1 of the instances" in report.message


def test_a_file_without_its_part10_header_is_sent_with_one(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "a", 1)
    bare = tmp_path / "bare.dcm"
    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    dataset = pydicom.dcmread(series.files[0])
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, dataset)
    bare.write_bytes(buffer.getvalue())
    with stow_server(lambda parts: (200, {}, stored(parts))) as server:
        report, _ = send(server.url, [bare])
    assert server.requests == [[series.sop_instance_uids[0]]]  # pydicom read the part as Part 10
    assert report.success
