"""``dicomnet.dcmsend_parallel``: one set of files over several associations, against a real peer."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydicom
import pytest

from dicomnet import dcmsend
from dicomnet.association import AssociationRequest
from dicomnet.dcmsend_files import FileOutcome
from dicomnet.dcmsend_parallel import association_count, merge, send_parallel, shards
from testsupport.dicom_data import generate_series
from testsupport.fault_scp import fault_scp
from testsupport.peers import LOOPBACK

TIMEOUTS = {"connect_timeout": 2, "acse_timeout": 2, "dimse_timeout": 5}


def _peer(called_ae: str, port: int) -> AssociationRequest:
    return AssociationRequest(called_ae=called_ae, port=port, host=LOOPBACK, calling_ae="US", **TIMEOUTS)


def _one(request: AssociationRequest) -> Any:
    def send(files: Sequence[Path], on_progress: Any, on_files: Any) -> dcmsend.SendReport:
        return dcmsend.send_files(
            files=files, request=request, program="dcmsend", on_progress=on_progress, tick=0.05, on_files=on_files
        )

    return send


def test_files_of_one_size_are_interleaved_and_keep_their_order() -> None:
    assert shards([100] * 10, 4) == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]


def test_shares_are_balanced_by_bytes_not_by_count() -> None:
    sizes = [1000, 10, 10, 10, 10, 10, 10, 10, 10, 10, 1000]
    shares = shards(sizes, 2)
    assert sorted(i for share in shares for i in share) == list(range(len(sizes)))
    assert all(share == sorted(share) for share in shares)
    # Each share carries one of the two large files, not one share both.
    assert [sum(1 for i in share if sizes[i] == 1000) for share in shares] == [1, 1]
    assert shards([5, 5], 8) == [[0], [1]]  # never an empty share


@pytest.mark.parametrize(
    "wanted, to_send, expected", [(4, 1000, 4), (4, 39, 3), (8, 9, 1), (1, 1000, 1), (8, 0, 1), (0, 100, 1)]
)
def test_a_short_series_is_not_split(wanted: int, to_send: int, expected: int) -> None:
    assert association_count(wanted=wanted, to_send=to_send) == expected


def test_four_associations_deliver_everything_and_outcomes_map_to_positions(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "src", 40)
    refused = series.sop_instance_uids[13]
    decided: list[FileOutcome] = []
    caller = threading.get_ident()
    threads_calling: set[int] = set()

    def on_files(outcomes: list[FileOutcome]) -> None:
        threads_calling.add(threading.get_ident())
        decided.extend(outcomes)

    with fault_scp("PAR", refuse={refused}, delay=0.01) as scp:
        report = send_parallel(
            files=series.files, count=4, send=_one(_peer("PAR", scp.port)), tick=0.05, on_files=on_files
        )
        assert scp.max_concurrent == 4
        assert scp.associations == 4
        received = list(scp.arrivals)
    assert sorted(sop for sop, _ in received) == sorted(set(series.sop_instance_uids) - {refused})
    assert (report.total, report.acknowledged, report.refused) == (40, 39, 1)
    assert report.failure is dcmsend.Failure.INSTANCES_REFUSED
    assert threads_calling == {caller}  # every callback from the caller's thread
    # Every position decided once, and each outcome names the file at that position.
    assert sorted(o.index for o in decided) == list(range(40))
    assert sorted(o.index for o in report.files) == list(range(40))
    by_index = {o.index: o for o in decided}
    exact = {o.index: o for o in report.files}
    for index, path in enumerate(series.files):
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        assert (exact[index].status == 0xA700) is (uid == refused)
        assert by_index[index].text.startswith("Refused") is (uid == refused)


def test_a_false_from_progress_stops_every_association_at_once(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "src", 200)
    with fault_scp("PAR", delay=0.02) as scp:
        told_to_stop: list[float] = []

        def progress(acknowledged: int, refused: int) -> bool:
            if acknowledged < 20:
                return True
            told_to_stop.append(time.monotonic())
            return False

        report = send_parallel(
            files=series.files, count=4, send=_one(_peer("PAR", scp.port)), on_progress=progress, tick=0.05
        )
        returned = time.monotonic()
        assert scp.max_concurrent == 4
        deadline = time.monotonic() + 2.0  # the peer sees every connection close at once
        while scp.open_associations and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scp.open_associations == 0
        time.sleep(0.2)  # the peer finishes storing what was in flight (its handler waits 0.02 s)
        settled = len(scp.arrivals)
        time.sleep(1.0)
        assert len(scp.arrivals) == settled  # nothing more arrives
    assert report.failure is dcmsend.Failure.CANCELLED
    assert 20 <= report.acknowledged < 200
    # At most the one request in flight per association was stored without its answer read.
    assert report.acknowledged <= settled <= report.acknowledged + 4
    # Told once, and every association was stopped within the 2 s that cancel promises, whatever the
    # machine's load (the whole send would have taken the peer's 200 × 0.02 s / 4 at the least).
    assert len(told_to_stop) == 1
    assert returned - told_to_stop[0] < 2.0


def test_a_real_peer_that_takes_two_associations_at_a_time_keeps_what_it_took(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "src", 40)
    with fault_scp("PAR", delay=0.05, maximum_associations=2) as scp:
        report = send_parallel(files=series.files, count=4, send=_one(_peer("PAR", scp.port)), tick=0.05)
        received = {sop for sop, _ in scp.arrivals}
        assert scp.max_concurrent <= 2
    accepted = report.acknowledged // 10
    if accepted:
        # Usually 2 of 4; on a loaded machine one share may connect after another was rejected.
        assert report.failure is dcmsend.Failure.PEER_BUSY
        assert f"accepted {accepted} of 4 simultaneous associations" in report.detail
        assert "lower its max_associations" in report.detail
    else:
        # pynetdicom counts the associations it is opening at once, so it may reject all four:
        # the sender then asks the peer alone with a C-ECHO (test_claim: fewer next time).
        assert report.failure is dcmsend.Failure.ASSOCIATION_REJECTED
    assert report.acknowledged == len(received) == 10 * accepted  # whole shares went through
    acknowledged = {o.index for o in report.files if o.status == 0}
    assert {series.sop_instance_uids[i] for i in acknowledged} == received


def test_a_peer_that_rejects_some_of_the_associations_is_busy_not_misconfigured() -> None:
    accepted = dcmsend.SendReport(total=5, acknowledged=5)
    rejected = dcmsend.SendReport(total=5, failure=dcmsend.Failure.ASSOCIATION_REJECTED, detail="rejected")
    merged = merge([accepted, rejected], total=10)
    assert merged.failure is dcmsend.Failure.PEER_BUSY
    assert "accepted 1 of 2" in merged.detail
    everything = merge([rejected, rejected], total=10)
    assert everything.failure is dcmsend.Failure.ASSOCIATION_REJECTED


def test_an_abort_is_what_the_whole_send_reports_over_a_refusal() -> None:
    refused = dcmsend.SendReport(total=5, acknowledged=4, refused=1, failure=dcmsend.Failure.INSTANCES_REFUSED)
    aborted = dcmsend.SendReport(total=5, acknowledged=2, failure=dcmsend.Failure.ABORTED, detail="Peer aborted")
    merged = merge([refused, aborted, dcmsend.SendReport(total=5, acknowledged=5)], total=15)
    assert (merged.failure, merged.acknowledged, merged.refused) == (dcmsend.Failure.ABORTED, 11, 1)
    assert merged.detail == "2 of 3 associations: Peer aborted"
