"""The Django admin's login: a username is counted the way the login form reads it, a NUL is a 400."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client

from authentication.tests.helpers import login
from conftest import PASSWORD
from dicom_api.models import Action, Status, TransferLog

pytestmark = pytest.mark.django_db

FULLWIDTH_ROOT = "\uff52\uff4f\uff4f\uff54"  # "ｒｏｏｔ": the login form's NFKC makes it "root"


def admin_login(client: Client, username: str, password: str) -> Any:
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR="10.3.3.3"
    )


def test_fullwidth_spellings_share_the_usernames_count(admin_user: AbstractUser) -> None:
    for _ in range(10):
        assert admin_login(Client(), "root", "wrong").status_code == 200
    for spelling in (FULLWIDTH_ROOT, "r\uff4fot", " ROOT "):
        assert admin_login(Client(), spelling, "wrong").status_code == 429
    client = Client()
    assert admin_login(client, FULLWIDTH_ROOT, PASSWORD).status_code == 429
    assert client.get("/admin/").status_code == 302  # still signed out


def test_a_fullwidth_sign_in_is_audited_as_the_user_and_resets_the_count(admin_user: AbstractUser) -> None:
    for _ in range(9):
        admin_login(Client(), FULLWIDTH_ROOT, "wrong")
    assert TransferLog.objects.filter(action=Action.LOGIN, user=admin_user, status=Status.FAILED).count() == 9
    assert admin_login(Client(), FULLWIDTH_ROOT, PASSWORD).status_code == 302
    # The count started again: ten more wrong attempts are evaluated, not throttled.
    answers = [admin_login(Client(), "root", "wrong").status_code for _ in range(10)]
    assert answers == [200] * 10


def test_the_api_counts_fullwidth_spellings_with_the_username(admin_user: AbstractUser, anon_client: Any) -> None:
    for _ in range(10):
        login(anon_client, FULLWIDTH_ROOT, "wrong", REMOTE_ADDR="10.4.4.4")
    assert login(anon_client, "root", PASSWORD, REMOTE_ADDR="10.5.5.5").status_code == 429


def test_a_nul_in_the_username_is_a_400_not_a_500(admin_user: AbstractUser) -> None:
    client = Client(raise_request_exception=False)
    response = admin_login(client, "ro\x00ot", "x")
    assert response.status_code == 400
    assert admin_login(client, "root", "pass\x00word").status_code == 400
    assert TransferLog.objects.count() == 0


def test_an_admin_with_a_temporary_password_gets_no_admin_session(client_admin: Any) -> None:
    created = client_admin.post(
        "/api/auth/users/", {"username": "newadmin", "password": "Temp-pass-9182x", "role": "admin"}, format="json"
    )
    assert created.status_code == 201
    client = Client()
    response = admin_login(client, "newadmin", "Temp-pass-9182x")
    assert response.status_code == 200
    assert "sign in to the web page" in response.content.decode()
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/auth/user/").status_code == 302
    entry = TransferLog.objects.filter(action=Action.LOGIN, username="newadmin").get()
    assert entry.status == Status.FAILED


def test_an_admin_session_stops_when_a_new_password_is_required(admin_user: AbstractUser) -> None:
    from authentication.models import Account

    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200
    Account.objects.update_or_create(user=admin_user, defaults={"must_change_password": True})
    assert client.get("/admin/").status_code == 302
