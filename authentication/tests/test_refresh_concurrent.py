"""Two refreshes with one refresh token at once (README): the session ends, whoever won."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from django.contrib.auth.models import AbstractUser

from authentication.models import EndReason, LoginSession
from conftest import PASSWORD


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_once_end_the_session(live_server: Any, user: AbstractUser) -> None:
    url = live_server.url
    pair = requests.post(f"{url}/api/auth/login/", json={"username": "alice", "password": PASSWORD}, timeout=10).json()
    barrier = threading.Barrier(2)
    answers: list[requests.Response] = []

    def refresh() -> None:
        barrier.wait()
        answers.append(requests.post(f"{url}/api/auth/refresh/", json={"refresh": pair["refresh"]}, timeout=10))

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [200, 401]
    won = next(answer.json() for answer in answers if answer.status_code == 200)
    me = requests.get(f"{url}/api/auth/user/", headers={"Authorization": f"Bearer {won['access']}"}, timeout=10)
    assert me.status_code == 401
    assert requests.post(f"{url}/api/auth/refresh/", json={"refresh": won["refresh"]}, timeout=10).status_code == 401
    assert LoginSession.objects.get().end_reason == EndReason.REFRESH_REUSE
