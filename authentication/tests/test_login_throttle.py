"""The login throttle: per username (10/min) and per client address (100/min), atomic under bursts."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser

from authentication.tests.helpers import login
from conftest import PASSWORD
from dicom_api.models import Action, Status, TransferLog

pytestmark = pytest.mark.django_db

WRONG = "Wrong username or password, or the account is inactive."


def test_the_eleventh_attempt_for_a_username_waits_even_with_the_right_password(
    anon_client: Any, user: AbstractUser
) -> None:
    for _ in range(10):
        assert login(anon_client, "alice", "wrong").status_code == 401
    response = login(anon_client, "alice", PASSWORD)
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    assert response.json()["detail"] == f"Too many sign-in attempts for this username. Try again in {wait} seconds."
    assert response.json()["retry_after"] == wait
    # Ten evaluated and audited as today, and the first refusal of the window.
    failed = TransferLog.objects.filter(action=Action.LOGIN, status=Status.FAILED, user=user)
    assert failed.filter(error_message=WRONG).count() == 10
    assert failed.filter(error_message__startswith="Throttled").count() == 1
    # A further refusal is counted, not audited again.
    assert login(anon_client, "alice", PASSWORD).status_code == 429
    assert failed.count() == 11


def test_one_persons_typos_do_not_lock_out_the_ward(
    anon_client: Any, user: AbstractUser, make_user: Callable[..., AbstractUser]
) -> None:
    # Everyone behind one NAT shares the address; alice's typos throttle alice only.
    make_user("nurse")
    for _ in range(11):
        login(anon_client, "alice", "wrong", REMOTE_ADDR="192.0.2.1")
    assert login(anon_client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.1").status_code == 429
    assert login(anon_client, "nurse", PASSWORD, REMOTE_ADDR="192.0.2.1").status_code == 200


def test_a_successful_login_starts_the_usernames_count_again(anon_client: Any, user: AbstractUser) -> None:
    for _ in range(9):
        login(anon_client, "alice", "wrong")
    assert login(anon_client, "alice", PASSWORD).status_code == 200
    for _ in range(10):
        assert login(anon_client, "alice", "wrong").status_code == 401


def test_the_address_limit_stops_guessing_across_usernames(anon_client: Any, settings: Any, db: None) -> None:
    settings.LOGIN_THROTTLE_ADDRESS = (20, 60)
    answers = [login(anon_client, f"user{n}", "wrong", REMOTE_ADDR="198.51.100.7").status_code for n in range(25)]
    assert answers == [401] * 20 + [429] * 5
    response = login(anon_client, "user99", "wrong", REMOTE_ADDR="198.51.100.7")
    assert "network address" in response.json()["detail"]
    assert login(anon_client, "user99", "wrong", REMOTE_ADDR="198.51.100.8").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_40_concurrent_wrong_logins_gets_at_most_the_limit_evaluated(
    live_server: Any, user: AbstractUser
) -> None:
    url = f"{live_server.url}/api/auth/login/"
    body = json.dumps({"username": "alice", "password": "wrong"}).encode()
    answers: list[int] = []
    start = threading.Barrier(40)

    def attempt() -> None:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
        start.wait()
        # The test server's listen backlog is short: a connection it resets never reached the
        # application, and the client tries again (as a browser would).
        for _ in range(50):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our live server)
                    answers.append(response.status)
            except urllib.error.HTTPError as e:
                answers.append(e.code)
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.05)
                continue
            return

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 40
    evaluated = TransferLog.objects.filter(action=Action.LOGIN, error_message=WRONG).count()
    assert answers.count(401) == evaluated == 10
    assert answers.count(429) == 30
