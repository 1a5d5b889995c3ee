from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser

from authentication.models import EndReason, LoginSession
from authentication.tests.helpers import bearer, login, me, refresh, tokens
from conftest import PASSWORD
from dicom_api.models import Action, TransferLog

pytestmark = pytest.mark.django_db

TEMPORARY = "temporary-password-17"


def test_it_sets_a_temporary_password_that_must_be_changed_at_sign_in(
    client_admin: Any, admin_user: AbstractUser, user: AbstractUser, anon_client: Any
) -> None:
    pair = tokens("alice")
    response = client_admin.post(f"/api/auth/users/{user.pk}/reset_password/", {"password": TEMPORARY}, format="json")
    assert response.status_code == 200
    assert response.json()["must_change_password"] is True
    # Every session of the user ended.
    assert refresh(pair["refresh"]).status_code == 401
    assert me(pair["access"]).status_code == 401
    assert LoginSession.objects.get(user=user).end_reason == EndReason.PASSWORD_RESET
    entry = TransferLog.objects.get(action=Action.PASSWORD_RESET)
    assert (entry.user, entry.details) == (admin_user, {"target_user_id": user.pk, "target_username": "alice"})
    assert TEMPORARY not in str(entry.details) + entry.error_message
    # The old password is gone; the temporary one signs in, but only to choose a new password.
    assert login(anon_client, "alice", PASSWORD).status_code == 401
    signed_in = login(anon_client, "alice", TEMPORARY).json()
    assert signed_in["user"]["must_change_password"] is True
    client = bearer(signed_in["access"])
    refused = client.get("/api/dicom/logs/")
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("Choose a new password first")
    assert client.post("/api/dicom/send/", {}, format="json").status_code == 403
    assert client.get("/api/auth/user/").status_code == 200
    change = {"current_password": TEMPORARY, "new_password": "alices-own-again-99"}
    assert client.patch("/api/auth/user/update/", change, format="json").status_code == 200
    assert bearer(tokens("alice", "alices-own-again-99")["access"]).get("/api/dicom/logs/").status_code == 200


def test_it_applies_the_password_validators(client_admin: Any, user: AbstractUser) -> None:
    response = client_admin.post(f"/api/auth/users/{user.pk}/reset_password/", {"password": "123"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_it_needs_a_password(client_admin: Any, user: AbstractUser) -> None:
    response = client_admin.post(f"/api/auth/users/{user.pk}/reset_password/", {}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_it_needs_a_token(anon_client: Any, user: AbstractUser) -> None:
    response = anon_client.post(f"/api/auth/users/{user.pk}/reset_password/", {"password": TEMPORARY}, format="json")
    assert response.status_code == 401


def test_it_is_for_admins_only(client_other: Any, user: AbstractUser) -> None:
    response = client_other.post(f"/api/auth/users/{user.pk}/reset_password/", {"password": TEMPORARY}, format="json")
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_an_unknown_user_is_404(client_admin: Any) -> None:
    response = client_admin.post("/api/auth/users/999999/reset_password/", {"password": TEMPORARY}, format="json")
    assert response.status_code == 404
