from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework_simplejwt.tokens import AccessToken

from authentication.tests.helpers import me

pytestmark = pytest.mark.django_db


def test_it_answers_the_user(client_user: Any, user: AbstractUser) -> None:
    response = client_user.get("/api/auth/user/")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert response.json()["role"] == "operator"


def test_it_needs_a_token(anon_client: Any) -> None:
    assert anon_client.get("/api/auth/user/").status_code == 401


@pytest.mark.parametrize("token", ["garbage", "eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ."])
def test_bad_access_tokens_are_401(token: str, db: None) -> None:
    assert me(token).status_code == 401


def test_a_signed_token_without_a_session_is_401(user: AbstractUser) -> None:
    assert me(str(AccessToken.for_user(user))).status_code == 401
