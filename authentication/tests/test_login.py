from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser

from authentication.models import LoginSession
from authentication.tests.helpers import login, me
from conftest import PASSWORD
from dicom_api.models import Action, Status, TransferLog

pytestmark = pytest.mark.django_db


def test_it_returns_tokens_and_the_user_and_is_audited(anon_client: Any, user: AbstractUser) -> None:
    response = login(anon_client, "alice", PASSWORD, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "user"}
    assert body["user"] == {
        "id": user.pk,
        "username": "alice",
        "email": "alice@example.org",
        "first_name": "",
        "last_name": "",
        "is_staff": False,
        "role": "operator",
        "must_change_password": False,
    }
    entry = TransferLog.objects.get(action=Action.LOGIN)
    assert (entry.user, entry.username, entry.status, entry.client_address) == (
        user,
        "alice",
        Status.SUCCESS,
        "10.1.2.3",
    )
    assert me(body["access"]).json()["username"] == "alice"
    session = LoginSession.objects.get(user=user)
    assert session.ended_at is None
    # Only the id of the refresh token is stored, never the token.
    assert session.refresh_jti and session.refresh_jti not in (body["refresh"], body["access"])
    assert len(session.refresh_jti) <= 64


def test_an_admin_is_staff_with_the_admin_role(anon_client: Any, admin_user: AbstractUser) -> None:
    user = login(anon_client, "root").json()["user"]
    assert (user["is_staff"], user["role"]) == (True, "admin")


def test_it_rejects_a_wrong_password_with_401_and_audits_it(anon_client: Any, user: AbstractUser) -> None:
    response = login(anon_client, "alice", "wrong")
    assert response.status_code == 401
    assert "credentials" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    entry = TransferLog.objects.get(action=Action.LOGIN)
    assert (entry.user, entry.status) == (user, Status.FAILED)
    assert not LoginSession.objects.exists()


def test_it_rejects_an_unknown_user_with_401(anon_client: Any, db: None) -> None:
    assert login(anon_client, "nobody", "x").status_code == 401
    assert TransferLog.objects.get(action=Action.LOGIN).username == "nobody"


def test_it_rejects_an_inactive_user_with_401(anon_client: Any, make_user: Callable[..., AbstractUser]) -> None:
    make_user("gone", is_active=False)
    assert login(anon_client, "gone").status_code == 401


def test_it_rejects_missing_fields_with_400(anon_client: Any, db: None) -> None:
    response = anon_client.post("/api/auth/login/", {"username": "a"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()
