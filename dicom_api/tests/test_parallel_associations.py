"""A transfer split over several associations (``Destination.max_associations``), end to end: the
API queues, real ``db_worker`` processes send with dcmsend to a real pynetdicom peer, and the tests
count what the peer received, by SOP Instance UID, and how many associations it saw at once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import ImportSession, TransferLog
from testsupport.dicom_data import generate_series, import_files
from testsupport.fault_scp import fault_scp
from testsupport.peers import LOOPBACK
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PATIENT = "PARALLEL^TEST^PATIENT"
# The peer counts an association open until it notices the connection closed. With the fast
# timeouts of the other worker tests, a peer slowed by a loaded machine (it runs in this process)
# makes a send time out, the next attempt opens new associations while the peer still counts
# the old ones, and a transfer may be recovered from a worker that is merely slow: both are
# what they should be, but they blur the count of simultaneous associations this file measures.
SLOW_PEER_TIMEOUTS = {"DICOM_ACSE_TIMEOUT": "30", "DICOM_DIMSE_TIMEOUT": "30", "TRANSFER_STALE_AFTER": "30"}


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
        assert PATIENT not in pool.output()


def wait_for(ids: list[int], statuses: set[str], timeout: float = 90) -> list[TransferLog]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = list(TransferLog.objects.filter(pk__in=ids).order_by("id"))
        if all(log.status in statuses for log in logs):
            return logs
        time.sleep(0.1)
    raise AssertionError("timed out: " + ", ".join(f"{log.pk}={log.status} ({log.error_message})" for log in logs))


def send(client: APIClient, session: ImportSession, series: list[str], target: Destination) -> list[int]:
    response = client.post(
        "/api/dicom/send/",
        {"import_id": str(session.pk), "series_instance_uids": series, "destination_ids": [target.pk]},
        format="json",
    )
    assert response.status_code == 202, response.content
    return [t["id"] for t in response.json()["transfers"]]


def parallel_destination(port: int, associations: int) -> Destination:
    return Destination.objects.create(
        name="wan", ae_title="FAULTY", host=LOOPBACK, port=port, max_associations=associations
    )


def test_an_aborted_association_resumes_alone_and_every_instance_arrives_exactly_once(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "src", 80, patient_name=PATIENT)
    session = import_files(user, series.files)
    # One of the four associations is aborted (once) when 30 instances have arrived; the
    # abort comes before the instance in flight is stored, as a real peer's crash would.
    with fault_scp(delay=0.01, abort_after=30, abort_limit=1) as peer:
        target = parallel_destination(peer.port, 4)
        workers(1, TRANSFER_MAX_CONCURRENT_PER_DESTINATION="4", **SLOW_PEER_TIMEOUTS)
        (log,) = wait_for(send(client_user, session, [series.series_instance_uid], target), {"success", "failed"})
        arrivals = Counter(sop for sop, _ in peer.arrivals)
        assert peer.max_concurrent == 4
        assert peer.aborts == 1
    assert (log.status, log.attempt, log.instances_sent) == ("success", 2, 80), log.error_message
    assert set(arrivals) == set(series.sop_instance_uids)
    assert [sop for sop, count in arrivals.items() if count > 1] == []  # none twice
    first, second = log.details["attempts"]
    assert (first["outcome"], first["associations"]) == ("aborted", 4)
    # The second attempt sent only what the first left unacknowledged.
    assert first["acknowledged"] + second["acknowledged"] == 80
    assert second["acknowledged"] < 80 - 30


@pytest.mark.parametrize("cap, expected", [(4, [4, 4]), (6, [4, 2])])
def test_the_per_destination_cap_counts_associations(
    tmp_path: Path,
    user: User,
    client_user: APIClient,
    workers: Callable[..., Workers],
    cap: int,
    expected: list[int],
) -> None:
    sources = [generate_series(tmp_path / f"s{i}", 80, patient_name=PATIENT) for i in range(2)]
    session = import_files(user, [f for s in sources for f in s.files])
    with fault_scp(delay=0.03) as peer:
        target = parallel_destination(peer.port, 4)
        workers(2, TRANSFER_MAX_CONCURRENT_PER_DESTINATION=str(cap), **SLOW_PEER_TIMEOUTS)
        ids = send(client_user, session, [s.series_instance_uid for s in sources], target)
        logs = wait_for(ids, {"success", "failed"}, timeout=120)
        # Never more associations at once than the cap, and the cap was used.
        assert peer.max_concurrent == cap
        received = Counter(sop for sop, _ in peer.arrivals)
    assert [log.status for log in logs] == ["success", "success"]
    assert set(received) == {uid for s in sources for uid in s.sop_instance_uids}
    # A claim that finds fewer slots free than it wants takes those (at least one), and says so.
    taken = sorted((log.details["attempts"][-1]["associations"] for log in logs), reverse=True)
    assert taken == expected


def test_cancel_stops_every_association(
    tmp_path: Path, user: User, client_user: APIClient, workers: Callable[..., Workers]
) -> None:
    series = generate_series(tmp_path / "src", 400, patient_name=PATIENT)
    session = import_files(user, series.files)
    with fault_scp(delay=0.02) as peer:
        target = parallel_destination(peer.port, 4)
        workers(1, TRANSFER_MAX_CONCURRENT_PER_DESTINATION="4", **SLOW_PEER_TIMEOUTS)
        (log_id,) = send(client_user, session, [series.series_instance_uid], target)
        deadline = time.monotonic() + 30
        while (peer.open_associations < 4 or len(peer.arrivals) < 40) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert peer.open_associations == 4
        response = client_user.post(f"/api/dicom/transfers/{log_id}/cancel/")
        assert response.status_code == 200, response.content
        cancelled_at = time.monotonic()
        while peer.open_associations and time.monotonic() - cancelled_at < 5:
            time.sleep(0.02)
        closed_after = time.monotonic() - cancelled_at
        assert peer.open_associations == 0
        time.sleep(0.2)  # what was in flight is stored (the peer's handler waits 0.02 s)
        settled = len(peer.arrivals)
        time.sleep(2.0)
        assert len(peer.arrivals) == settled  # nothing arrives once the cancel has settled
    assert closed_after < 2.0  # the worker's next progress tick (0.1 s here) stops all four
    assert settled < 400
    log = TransferLog.objects.get(pk=log_id)
    assert log.status == "cancelled"
