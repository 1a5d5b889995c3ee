from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser

from authentication.models import EndReason, LoginSession
from authentication.tests.helpers import bearer, me, refresh, tokens
from dicom_api.models import Action, Status, TransferLog

pytestmark = pytest.mark.django_db


def test_it_ends_this_session_only(user: AbstractUser) -> None:
    this, other = tokens("alice"), tokens("alice")
    response = bearer(this["access"]).post("/api/auth/logout/", {"refresh": this["refresh"]}, format="json")
    assert response.status_code == 205
    # Both the refresh and the access token of this session stop at once.
    assert refresh(this["refresh"]).status_code == 401
    assert me(this["access"]).status_code == 401
    # The other session goes on.
    assert me(other["access"]).status_code == 200
    assert refresh(other["refresh"]).status_code == 200
    assert LoginSession.objects.filter(end_reason=EndReason.LOGOUT).count() == 1
    entry = TransferLog.objects.get(action=Action.LOGOUT)
    assert (entry.user, entry.status) == (user, Status.SUCCESS)


def test_it_needs_authentication(anon_client: Any, user: AbstractUser) -> None:
    pair = tokens("alice")
    assert anon_client.post("/api/auth/logout/", {"refresh": pair["refresh"]}, format="json").status_code == 401
    assert refresh(pair["refresh"]).status_code == 200


def test_it_refuses_someone_elses_refresh_token(client_other: Any, user: AbstractUser) -> None:
    pair = tokens("alice")
    response = client_other.post("/api/auth/logout/", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 400
    assert "refresh" in response.json()
    assert refresh(pair["refresh"]).status_code == 200


def test_it_refuses_a_rotated_refresh_token_with_400(user: AbstractUser) -> None:
    pair = tokens("alice")
    rotated = refresh(pair["refresh"]).json()
    response = bearer(rotated["access"]).post("/api/auth/logout/", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 400
    assert "refresh" in response.json()
    assert me(rotated["access"]).status_code == 200


def test_it_rejects_garbage_with_400(client_user: Any) -> None:
    response = client_user.post("/api/auth/logout/", {"refresh": "not-a-token"}, format="json")
    assert response.status_code == 400
    assert "refresh" in response.json()
