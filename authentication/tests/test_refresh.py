from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from authentication.models import EndReason, LoginSession
from authentication.tests.helpers import me, refresh, tokens

pytestmark = pytest.mark.django_db


def test_it_rotates_and_the_new_refresh_token_works(user: AbstractUser) -> None:
    first = tokens("alice")["refresh"]
    response = refresh(first)
    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"access", "refresh"}
    assert second["refresh"] != first
    assert me(second["access"]).status_code == 200
    assert refresh(second["refresh"]).status_code == 200


def test_a_spent_refresh_token_used_again_ends_the_session(user: AbstractUser) -> None:
    pair = tokens("alice")
    rotated = refresh(pair["refresh"]).json()
    reused = refresh(pair["refresh"])
    assert reused.status_code == 401
    assert "already been used" in reused.json()["detail"]
    # Whoever holds the current tokens (the user or a thief) loses them too.
    assert refresh(rotated["refresh"]).status_code == 401
    assert me(rotated["access"]).status_code == 401
    assert LoginSession.objects.get().end_reason == EndReason.REFRESH_REUSE


def test_rotation_keeps_the_sessions_absolute_end(user: AbstractUser) -> None:
    first = tokens("alice")["refresh"]
    end = RefreshToken(first)["exp"]  # type: ignore[arg-type]
    second = refresh(first).json()["refresh"]
    assert RefreshToken(second)["exp"] == end  # type: ignore[arg-type]
    # Once the session's end has passed, no token of it refreshes (even one signed as valid).
    LoginSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = refresh(second)
    assert response.status_code == 401
    assert response.json()["detail"]


def test_a_deactivated_users_tokens_answer_401(user: AbstractUser) -> None:
    pair = tokens("alice")
    user.is_active = False
    user.save()
    assert refresh(pair["refresh"]).status_code == 401
    assert me(pair["access"]).status_code == 401


def test_a_password_set_elsewhere_ends_the_session(user: AbstractUser) -> None:
    # e.g. `manage.py changepassword` or the Django admin, which bypass the API.
    pair = tokens("alice")
    user.set_password("changed-somewhere-else-42")
    user.save()
    assert refresh(pair["refresh"]).status_code == 401
    assert me(pair["access"]).status_code == 401


@pytest.mark.parametrize("token", ["garbage", "eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ."])
def test_it_rejects_garbage_with_401(token: str, db: None) -> None:
    assert refresh(token).status_code == 401


def test_it_rejects_a_missing_token_with_400(anon_client: Any, db: None) -> None:
    response = anon_client.post("/api/auth/refresh/", {}, format="json")
    assert response.status_code == 400
    assert "refresh" in response.json()


def test_a_refresh_token_without_a_session_answers_401(user: AbstractUser) -> None:
    # Signed with our key, as tokens were before sessions: not accepted.
    assert refresh(str(RefreshToken.for_user(user))).status_code == 401
