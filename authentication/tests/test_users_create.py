from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser, User

from authentication.tests.helpers import bearer, login, tokens
from dicom_api.models import Action, TransferLog

pytestmark = pytest.mark.django_db

NEW_USER = {
    "username": "carol",
    "password": "first-password-for-carol",
    "email": "carol@example.org",
    "first_name": "Carol",
    "last_name": "Reader",
    "role": "auditor",
}


def test_it_creates_a_user_who_must_choose_a_password(
    client_admin: Any, admin_user: AbstractUser, anon_client: Any
) -> None:
    response = client_admin.post("/api/auth/users/", NEW_USER, format="json")
    assert response.status_code == 201
    body = response.json()
    assert {key: body[key] for key in ("username", "email", "first_name", "last_name", "role", "is_active")} == {
        "username": "carol",
        "email": "carol@example.org",
        "first_name": "Carol",
        "last_name": "Reader",
        "role": "auditor",
        "is_active": True,
    }
    assert body["must_change_password"] is True
    carol = User.objects.get(username="carol")
    assert (carol.is_staff, carol.check_password(NEW_USER["password"])) == (False, True)
    entry = TransferLog.objects.get(action=Action.USER_CREATE)
    assert entry.user == admin_user
    assert entry.details == {
        "target_user_id": carol.pk,
        "target_username": "carol",
        "role": "auditor",
        "is_active": True,
    }
    signed_in = login(anon_client, "carol", NEW_USER["password"]).json()
    assert signed_in["user"]["must_change_password"] is True
    assert bearer(signed_in["access"]).get("/api/dicom/logs/").status_code == 403


def test_an_admin_created_here_is_staff(client_admin: Any) -> None:
    response = client_admin.post("/api/auth/users/", {**NEW_USER, "role": "admin"}, format="json")
    assert response.status_code == 201
    carol = User.objects.get(username="carol")
    assert (carol.is_staff, carol.is_superuser) == (True, True)


def test_the_role_defaults_to_operator(client_admin: Any) -> None:
    body = {"username": "dave", "password": "first-password-for-dave"}
    assert client_admin.post("/api/auth/users/", body, format="json").json()["role"] == "operator"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"username": "alice"}, "username"),
        ({"username": "ALICE"}, "username"),
        ({"username": "bad name!"}, "username"),
        ({"password": "123"}, "password"),
        ({"role": "superuser"}, "role"),
        ({"email": "nope"}, "email"),
    ],
)
def test_it_names_the_field_at_fault(client_admin: Any, user: AbstractUser, change: dict[str, str], field: str) -> None:
    response = client_admin.post("/api/auth/users/", {**NEW_USER, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not TransferLog.objects.filter(action=Action.USER_CREATE).exists()


def test_it_needs_a_token(anon_client: Any) -> None:
    assert anon_client.post("/api/auth/users/", NEW_USER, format="json").status_code == 401


def test_it_is_for_admins_only(client_user: Any) -> None:
    assert client_user.post("/api/auth/users/", NEW_USER, format="json").status_code == 403
    assert not User.objects.filter(username="carol").exists()


def test_a_created_user_signs_in_after_choosing_a_password(client_admin: Any) -> None:
    client_admin.post("/api/auth/users/", NEW_USER, format="json")
    first = tokens("carol", NEW_USER["password"])
    change = {"current_password": NEW_USER["password"], "new_password": "carols-own-secret-77"}
    assert bearer(first["access"]).patch("/api/auth/user/update/", change, format="json").status_code == 200
    again = tokens("carol", "carols-own-secret-77")
    assert again["user"]["must_change_password"] is False
    assert bearer(again["access"]).get("/api/dicom/logs/").status_code == 200
