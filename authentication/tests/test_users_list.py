from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser

from authentication.models import Account, Role

pytestmark = pytest.mark.django_db


def test_it_lists_every_user_with_their_role(
    client_admin: Any, admin_user: AbstractUser, user: AbstractUser, other_user: AbstractUser
) -> None:
    Account.objects.create(user=other_user, role=Role.AUDITOR)
    response = client_admin.get("/api/auth/users/")
    assert response.status_code == 200
    rows = {row["username"]: row for row in response.json()}
    assert set(rows) == {"root", "alice", "bob"}
    assert rows["alice"] == {
        "id": user.pk,
        "username": "alice",
        "email": "alice@example.org",
        "first_name": "",
        "last_name": "",
        "role": "operator",
        "is_active": True,
        "last_login": None,
        "must_change_password": False,
    }
    assert (rows["root"]["role"], rows["bob"]["role"]) == ("admin", "auditor")
    assert "password" not in rows["alice"]


def test_it_needs_a_token(anon_client: Any) -> None:
    assert anon_client.get("/api/auth/users/").status_code == 401


def test_it_is_for_admins_only(client_user: Any, client_other: Any, other_user: AbstractUser) -> None:
    assert client_user.get("/api/auth/users/").status_code == 403
    Account.objects.create(user=other_user, role=Role.AUDITOR)
    assert client_other.get("/api/auth/users/").status_code == 403
