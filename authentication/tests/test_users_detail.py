from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser

from authentication.models import Account, EndReason, LoginSession, Role
from authentication.tests.helpers import me, refresh, tokens
from dicom_api.models import Action, TransferLog

pytestmark = pytest.mark.django_db


def test_get_answers_the_user(client_admin: Any, user: AbstractUser) -> None:
    response = client_admin.get(f"/api/auth/users/{user.pk}/")
    assert response.status_code == 200
    assert (response.json()["username"], response.json()["role"]) == ("alice", "operator")


def test_get_of_an_unknown_user_is_404(client_admin: Any) -> None:
    assert client_admin.get("/api/auth/users/999999/").status_code == 404
    assert client_admin.patch("/api/auth/users/999999/", {"role": "admin"}, format="json").status_code == 404


def test_it_needs_a_token(anon_client: Any, user: AbstractUser) -> None:
    assert anon_client.get(f"/api/auth/users/{user.pk}/").status_code == 401
    assert anon_client.patch(f"/api/auth/users/{user.pk}/", {"role": "admin"}, format="json").status_code == 401


def test_it_is_for_admins_only(client_user: Any, other_user: AbstractUser, user: AbstractUser) -> None:
    assert client_user.get(f"/api/auth/users/{other_user.pk}/").status_code == 403
    response = client_user.patch(f"/api/auth/users/{user.pk}/", {"role": "admin"}, format="json")
    assert response.status_code == 403
    user.refresh_from_db()
    assert not user.is_staff


def test_a_role_change_applies_at_once_and_is_audited(
    client_admin: Any, admin_user: AbstractUser, user: AbstractUser
) -> None:
    access = tokens("alice")["access"]
    response = client_admin.patch(f"/api/auth/users/{user.pk}/", {"role": "auditor"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "auditor"
    assert Account.objects.get(user=user).role == Role.AUDITOR
    assert me(access).json()["role"] == "auditor"
    entry = TransferLog.objects.get(action=Action.USER_UPDATE)
    assert entry.user == admin_user
    assert entry.details == {
        "target_user_id": user.pk,
        "target_username": "alice",
        "changes": {"role": ["operator", "auditor"]},
    }
    response = client_admin.patch(f"/api/auth/users/{user.pk}/", {"role": "admin"}, format="json")
    user.refresh_from_db()
    assert (response.json()["role"], user.is_staff, me(access).json()["is_staff"]) == ("admin", True, True)
    assert TransferLog.objects.filter(action=Action.USER_UPDATE).count() == 2


def test_deactivation_ends_the_users_sessions(client_admin: Any, user: AbstractUser) -> None:
    pair = tokens("alice")
    response = client_admin.patch(f"/api/auth/users/{user.pk}/", {"is_active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert refresh(pair["refresh"]).status_code == 401
    assert me(pair["access"]).status_code == 401
    assert LoginSession.objects.get(user=user).end_reason == EndReason.DEACTIVATED
    assert TransferLog.objects.get(action=Action.USER_UPDATE).details["changes"] == {"is_active": [True, False]}
    # Reactivated, the user signs in again (the old session stays ended).
    client_admin.patch(f"/api/auth/users/{user.pk}/", {"is_active": True}, format="json")
    assert refresh(pair["refresh"]).status_code == 401
    assert me(tokens("alice")["access"]).status_code == 200


def test_names_and_email_change(client_admin: Any, user: AbstractUser) -> None:
    body = {"email": "new@example.org", "first_name": "Alice", "last_name": "L"}
    response = client_admin.patch(f"/api/auth/users/{user.pk}/", body, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.email, user.first_name, user.last_name) == ("new@example.org", "Alice", "L")
    assert set(TransferLog.objects.get(action=Action.USER_UPDATE).details["changes"]) == {
        "email",
        "first_name",
        "last_name",
    }


def test_an_admin_cannot_deactivate_or_demote_themselves(client_admin: Any, admin_user: AbstractUser) -> None:
    for body, field in (({"is_active": False}, "is_active"), ({"role": "operator"}, "role")):
        response = client_admin.patch(f"/api/auth/users/{admin_user.pk}/", body, format="json")
        assert response.status_code == 409
        assert field in response.json()
    admin_user.refresh_from_db()
    assert (admin_user.is_active, admin_user.is_staff) == (True, True)


def test_an_invalid_role_is_400(client_admin: Any, user: AbstractUser) -> None:
    response = client_admin.patch(f"/api/auth/users/{user.pk}/", {"role": "root"}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()


def test_put_and_delete_are_not_allowed(client_admin: Any, user: AbstractUser) -> None:
    assert client_admin.put(f"/api/auth/users/{user.pk}/", {"role": "admin"}, format="json").status_code == 405
    assert client_admin.delete(f"/api/auth/users/{user.pk}/").status_code == 405
