"""A connection test can't take the web tier: one at a time per user, a few per process, a rate per user."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command

from conftest import client_for
from destinations.models import Destination
from dicom_api.models import Action, TransferLog
from dicom_api.services.connection import destination_test_connection
from testsupport.hung_peer import HungPeer
from testsupport.peers import free_port

LOOPBACK = "127.0.0.1"


@pytest.fixture(autouse=True)
def _throttle_cache(transactional_db: None) -> Iterator[None]:
    call_command("createcachetable", verbosity=0)
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def hung(settings: Any) -> Iterator[tuple[Destination, HungPeer]]:
    settings.DICOM_ACSE_TIMEOUT = 3
    settings.CONNECTION_TESTS_PER_PROCESS = 2
    peer = HungPeer()
    yield Destination.objects.create(name="hung", ae_title="HUNG", host=LOOPBACK, port=peer.port), peer
    peer.close()


def _test_in_thread(destination: Destination, user: User, peer: HungPeer) -> threading.Thread:
    thread = threading.Thread(target=destination_test_connection, kwargs={"destination": destination, "user": user})
    thread.start()
    assert peer.connected.acquire(timeout=10), "the test in the background never reached the peer"
    return thread


def test_a_users_second_test_while_the_first_hangs_is_429_at_once(
    hung: tuple[Destination, HungPeer], user: User
) -> None:
    destination, peer = hung
    first = _test_in_thread(destination, user, peer)
    started = time.monotonic()
    response = client_for(user).post(f"/api/destinations/{destination.pk}/test_connection/")
    assert time.monotonic() - started < 1.5  # not after the hung test's 3 s
    assert response.status_code == 429, response.content
    assert response.json() == {"detail": "A connection test of yours is still running; wait for its answer."}
    assert int(response["Retry-After"]) > 0
    first.join(timeout=30)
    # The first test still ran to its end and was audited; the refused one was not a test.
    assert TransferLog.objects.filter(action=Action.TEST_CONNECTION).count() == 1


def test_tests_beyond_the_per_process_bound_are_429_at_once_for_everyone(
    hung: tuple[Destination, HungPeer], make_user: Any
) -> None:
    destination, peer = hung
    running = [_test_in_thread(destination, make_user(f"user{n}"), peer) for n in range(2)]
    started = time.monotonic()
    response = client_for(make_user("third")).post(f"/api/destinations/{destination.pk}/test_connection/")
    assert time.monotonic() - started < 1.5  # not after the hung test's 3 s
    assert response.status_code == 429
    assert "Other connection tests are running" in response.json()["detail"]
    for thread in running:
        thread.join(timeout=30)
    # Once they are done, the slots are free again.
    closed = Destination.objects.create(name="closed", ae_title="CLOSED", host=LOOPBACK, port=free_port())
    assert client_for(make_user("fourth")).post(f"/api/destinations/{closed.pk}/test_connection/").status_code == 200


def test_a_user_gets_at_most_the_rate_of_tests(user: User, settings: Any) -> None:
    settings.CONNECTION_TEST_RATE = (2, 60)
    closed = Destination.objects.create(name="closed", ae_title="CLOSED", host=LOOPBACK, port=free_port())
    client = client_for(user)
    statuses = [client.post(f"/api/destinations/{closed.pk}/test_connection/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert TransferLog.objects.filter(action=Action.TEST_CONNECTION).count() == 2
