from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser

from authentication.models import Account, EndReason, LoginSession
from authentication.tests.helpers import bearer, login, me, refresh, tokens
from conftest import PASSWORD
from dicom_api.models import Action, TransferLog

pytestmark = pytest.mark.django_db

NEW = "a-much-better-secret-42"


def test_it_changes_names_and_email(client_user: Any, user: AbstractUser) -> None:
    response = client_user.patch(
        "/api/auth/user/update/", {"first_name": "Alice", "last_name": "Liddell", "email": "a@l.org"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["first_name"] == "Alice"
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.email) == ("Alice", "Liddell", "a@l.org")


def test_it_cannot_raise_privileges_or_rename(client_user: Any, user: AbstractUser) -> None:
    response = client_user.put(
        "/api/auth/user/update/",
        {"username": "root2", "is_staff": True, "is_superuser": True, "role": "admin", "first_name": "A"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["is_staff"], response.json()["role"]) == (False, "operator")
    user.refresh_from_db()
    assert (user.username, user.is_staff, user.is_superuser, user.first_name) == ("alice", False, False, "A")


def test_it_needs_a_token(anon_client: Any) -> None:
    assert anon_client.patch("/api/auth/user/update/", {"first_name": "x"}, format="json").status_code == 401


def test_it_rejects_an_invalid_email(client_user: Any) -> None:
    response = client_user.patch("/api/auth/user/update/", {"email": "not an email"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()


def test_a_password_change_needs_the_current_password(client_user: Any, user: AbstractUser) -> None:
    response = client_user.patch(
        "/api/auth/user/update/", {"current_password": "wrong", "new_password": NEW}, format="json"
    )
    assert response.status_code == 400
    assert "current_password" in response.json()
    response = client_user.patch("/api/auth/user/update/", {"new_password": NEW}, format="json")
    assert response.status_code == 400
    assert "current_password" in response.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_password_change_applies_the_password_validators(client_user: Any, user: AbstractUser) -> None:
    response = client_user.patch(
        "/api/auth/user/update/", {"current_password": PASSWORD, "new_password": "12345"}, format="json"
    )
    assert response.status_code == 400
    assert "new_password" in response.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_password_change_ends_every_session_and_is_audited(user: AbstractUser, anon_client: Any) -> None:
    first, second = tokens("alice"), tokens("alice")
    rotated = refresh(second["refresh"]).json()
    response = bearer(first["access"]).patch(
        "/api/auth/user/update/", {"current_password": PASSWORD, "new_password": NEW}, format="json"
    )
    assert response.status_code == 200
    # The old refresh tokens of every session answer 401, and so do their access tokens.
    for token in (first["refresh"], second["refresh"], rotated["refresh"]):
        assert refresh(token).status_code == 401
    for token in (first["access"], rotated["access"]):
        assert me(token).status_code == 401
    assert set(LoginSession.objects.values_list("end_reason", flat=True)) == {EndReason.PASSWORD_CHANGE}
    assert TransferLog.objects.filter(action=Action.PASSWORD_CHANGE, user=user).count() == 1
    assert login(anon_client, "alice", PASSWORD).status_code == 401
    assert login(anon_client, "alice", NEW).status_code == 200


def test_a_password_change_clears_must_change_password(user: AbstractUser) -> None:
    Account.objects.create(user=user, must_change_password=True)
    client = bearer(tokens("alice")["access"])
    assert client.get("/api/dicom/logs/").status_code == 403
    response = client.patch(
        "/api/auth/user/update/", {"current_password": PASSWORD, "new_password": NEW}, format="json"
    )
    assert response.json()["must_change_password"] is False
    assert bearer(tokens("alice", NEW)["access"]).get("/api/dicom/logs/").status_code == 200


def test_a_password_change_refuses_the_same_password(client_user: Any) -> None:
    response = client_user.patch(
        "/api/auth/user/update/", {"current_password": PASSWORD, "new_password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "new_password" in response.json()
