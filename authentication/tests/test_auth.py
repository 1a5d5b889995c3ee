from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.cache import cache
from rest_framework.test import APIClient

from conftest import PASSWORD
from dicom_api.models import Action, Status, TransferLog

pytestmark = pytest.mark.django_db


def login(client: APIClient, username: str, password: str, **extra: Any) -> Any:
    return client.post("/api/auth/login/", {"username": username, "password": password}, format="json", **extra)


def test_login_returns_tokens_and_user_and_is_audited(anon_client: APIClient, user: AbstractUser) -> None:
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
    }
    entry = TransferLog.objects.get(action=Action.LOGIN)
    assert (entry.user, entry.username, entry.status, entry.client_address) == (
        user,
        "alice",
        Status.SUCCESS,
        "10.1.2.3",
    )
    me = anon_client.get("/api/auth/user/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


def test_login_rejects_a_wrong_password_with_401_and_audits_it(anon_client: APIClient, user: AbstractUser) -> None:
    response = login(anon_client, "alice", "wrong")
    assert response.status_code == 401
    assert "credentials" in response.json()["detail"]
    entry = TransferLog.objects.get(action=Action.LOGIN)
    assert (entry.user, entry.status) == (user, Status.FAILED)


def test_login_rejects_an_unknown_user_with_401(anon_client: APIClient, db: None) -> None:
    assert login(anon_client, "nobody", "x").status_code == 401
    assert TransferLog.objects.get(action=Action.LOGIN).username == "nobody"


def test_login_rejects_missing_fields_with_400(anon_client: APIClient, db: None) -> None:
    response = anon_client.post("/api/auth/login/", {"username": "a"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_login_is_throttled_per_client_and_spoofed_forwarded_for_does_not_help(
    anon_client: APIClient, user: AbstractUser, settings: Any
) -> None:
    cache.clear()
    for attempt in range(10):
        assert login(anon_client, "alice", "wrong", HTTP_X_FORWARDED_FOR=f"1.2.3.{attempt}").status_code == 401
    response = login(anon_client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="9.9.9.9")
    assert response.status_code == 429
    assert "throttled" in response.json()["detail"].lower()


def test_refresh_rotates_and_the_old_refresh_token_is_rejected(anon_client: APIClient, user: AbstractUser) -> None:
    first = login(anon_client, "alice", PASSWORD).json()["refresh"]
    response = anon_client.post("/api/auth/refresh/", {"refresh": first}, format="json")
    assert response.status_code == 200
    second = response.json()
    assert set(second) >= {"access", "refresh"}
    assert second["refresh"] != first
    reused = anon_client.post("/api/auth/refresh/", {"refresh": first}, format="json")
    assert reused.status_code == 401
    assert anon_client.post("/api/auth/refresh/", {"refresh": second["refresh"]}, format="json").status_code == 200


def test_logout_blacklists_the_refresh_token(anon_client: APIClient, user: AbstractUser) -> None:
    tokens = login(anon_client, "alice", PASSWORD).json()
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    response = anon_client.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 205
    anon_client.credentials()
    assert anon_client.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    entry = TransferLog.objects.get(action=Action.LOGOUT)
    assert (entry.user, entry.status) == (user, Status.SUCCESS)


def test_logout_needs_authentication(anon_client: APIClient, user: AbstractUser) -> None:
    tokens = login(anon_client, "alice", PASSWORD).json()
    assert anon_client.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 401


def test_logout_refuses_someone_elses_refresh_token(
    anon_client: APIClient, client_other: APIClient, user: AbstractUser
) -> None:
    tokens = login(anon_client, "alice", PASSWORD).json()
    response = client_other.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 400
    assert "refresh" in response.json()
    assert anon_client.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code == 200


def test_logout_rejects_garbage_with_400(client_user: APIClient) -> None:
    response = client_user.post("/api/auth/logout/", {"refresh": "not-a-token"}, format="json")
    assert response.status_code == 400
    assert "refresh" in response.json()


def test_a_deactivated_users_refresh_token_is_rejected(anon_client: APIClient, user: AbstractUser) -> None:
    tokens = login(anon_client, "alice", PASSWORD).json()
    user.is_active = False
    user.save()
    assert anon_client.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert anon_client.get("/api/auth/user/").status_code == 401


@pytest.mark.parametrize("token", ["garbage", "eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ."])
def test_bad_access_tokens_are_401(anon_client: APIClient, token: str, db: None) -> None:
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anon_client.get("/api/auth/user/").status_code == 401


def test_current_user_needs_a_token(anon_client: APIClient) -> None:
    assert anon_client.get("/api/auth/user/").status_code == 401


def test_profile_update_changes_names_and_email(client_user: APIClient, user: AbstractUser) -> None:
    response = client_user.patch(
        "/api/auth/user/update/", {"first_name": "Alice", "last_name": "Liddell", "email": "a@l.org"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["first_name"] == "Alice"
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.email) == ("Alice", "Liddell", "a@l.org")


def test_profile_update_cannot_raise_privileges_or_rename(client_user: APIClient, user: AbstractUser) -> None:
    response = client_user.put(
        "/api/auth/user/update/",
        {"username": "root2", "is_staff": True, "is_superuser": True, "first_name": "A"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["is_staff"] is False
    user.refresh_from_db()
    assert (user.username, user.is_staff, user.is_superuser, user.first_name) == ("alice", False, False, "A")


def test_profile_update_rejects_an_invalid_email(client_user: APIClient) -> None:
    response = client_user.patch("/api/auth/user/update/", {"email": "not an email"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()


def test_password_change_needs_the_current_password(client_user: APIClient, user: AbstractUser) -> None:
    response = client_user.patch(
        "/api/auth/user/update/",
        {"current_password": "wrong", "new_password": "a-much-better-secret-42"},
        format="json",
    )
    assert response.status_code == 400
    assert "current_password" in response.json()
    response = client_user.patch("/api/auth/user/update/", {"new_password": "a-much-better-secret-42"}, format="json")
    assert response.status_code == 400
    assert "current_password" in response.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_change_applies_the_password_validators(client_user: APIClient, user: AbstractUser) -> None:
    response = client_user.patch(
        "/api/auth/user/update/", {"current_password": PASSWORD, "new_password": "12345"}, format="json"
    )
    assert response.status_code == 400
    assert "new_password" in response.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_change_works(client_user: APIClient, anon_client: APIClient, user: AbstractUser) -> None:
    response = client_user.patch(
        "/api/auth/user/update/",
        {"current_password": PASSWORD, "new_password": "a-much-better-secret-42"},
        format="json",
    )
    assert response.status_code == 200
    assert login(anon_client, "alice", "a-much-better-secret-42").status_code == 200
