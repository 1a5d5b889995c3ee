"""The Django admin's login: the same throttle and the same audit as the API's."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client

from conftest import PASSWORD
from dicom_api.models import Action, Status, TransferLog

pytestmark = pytest.mark.django_db


def admin_login(client: Client, username: str, password: str) -> Any:
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR="10.3.3.3"
    )


def test_twelve_wrong_passwords_are_throttled_and_audited(admin_user: AbstractUser) -> None:
    client = Client()
    answers = [admin_login(client, "root", "wrong").status_code for _ in range(12)]
    assert answers == [200] * 10 + [429] * 2
    # The right password waits too, and the answer says how long.
    response = admin_login(client, "root", PASSWORD)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Try again in" in response.content.decode()
    assert client.get("/admin/").status_code == 302  # still signed out
    entries = TransferLog.objects.filter(action=Action.LOGIN, user=admin_user)
    assert entries.filter(status=Status.FAILED, error_message__startswith="Wrong").count() == 10
    assert entries.filter(status=Status.FAILED, error_message__startswith="Throttled").count() == 1
    assert all(entry.details == {"via": "admin"} for entry in entries)
    assert {entry.client_address for entry in entries} == {"10.3.3.3"}


def test_the_api_and_the_admin_share_one_count(anon_client: Any, admin_user: AbstractUser) -> None:
    for _ in range(10):
        anon_client.post("/api/auth/login/", {"username": "root", "password": "wrong"}, format="json")
    assert admin_login(Client(), "root", PASSWORD).status_code == 429


def test_a_successful_admin_login_is_audited(admin_user: AbstractUser) -> None:
    client = Client()
    response = admin_login(client, "root", PASSWORD)
    assert response.status_code == 302
    entry = TransferLog.objects.get(action=Action.LOGIN)
    assert (entry.user, entry.status, entry.details) == (admin_user, Status.SUCCESS, {"via": "admin"})
    assert client.get("/admin/").status_code == 200


def test_a_non_staff_user_is_refused_and_audited(user: AbstractUser) -> None:
    assert admin_login(Client(), "alice", PASSWORD).status_code == 200
    entry = TransferLog.objects.get(action=Action.LOGIN)
    assert (entry.user, entry.status) == (user, Status.FAILED)
