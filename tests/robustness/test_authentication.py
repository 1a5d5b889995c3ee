"""Authentication as an outsider attacks it: no token, forged tokens, a spoofed client address,
a self-promotion to admin."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from authentication.sessions import session_start
from conftest import PASSWORD, access_token_for

pytestmark = pytest.mark.django_db

OPEN = {("post", "/api/auth/login/"), ("post", "/api/auth/refresh/")}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _operations(client: APIClient) -> list[tuple[str, str]]:
    paths = client.get("/api/schema/?format=json").json()["paths"]
    operations = []
    for path, methods in paths.items():
        concrete = re.sub(r"\{(import_id|upload_id)\}", "e3e70682-c209-4cac-a29f-6fbed82c07cd", path)
        concrete = re.sub(r"\{[^}]+\}", "1", concrete)
        operations += [(method, concrete) for method in methods if method in {"get", "post", "put", "patch", "delete"}]
    return operations


def test_every_endpoint_but_login_refresh_and_health_answers_401_without_a_token(anon_client: APIClient) -> None:
    operations = _operations(anon_client)
    assert len(operations) >= 20
    for method, path in operations:
        response = getattr(anon_client, method)(path, {}, format="json")
        expected = {400, 401} if (method, path) in OPEN else {401}
        assert response.status_code in expected, (method, path, response.status_code)
        if response.status_code == 401:
            assert response.json()["detail"]
            assert response["WWW-Authenticate"].startswith("Bearer")
    health = anon_client.get("/api/health/")
    assert health.status_code in (200, 503)


@pytest.fixture
def good_token(user: AbstractUser) -> str:
    return access_token_for(user)


def forged_tokens(user: AbstractUser, admin: AbstractUser, good: str) -> dict[str, str]:
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    as_admin = {**claims, "user_id": str(admin.pk)}
    expired = AccessToken(good)  # type: ignore[arg-type]
    expired.set_exp(from_time=timezone.now() - timedelta(hours=2), lifetime=timedelta(minutes=15))
    return {
        "tampered payload (user id of the admin), original signature": f"{header}.{_b64(as_admin)}.{signature}",
        "tampered signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "alg none, no signature": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(as_admin)}.",
        "alg none, original signature": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(as_admin)}.{signature}",
        "expired": str(expired),
        "a refresh token used as an access token": session_start(user=user).refresh,  # type: ignore[arg-type]
        "signed with another key": _sign_with_other_key(claims),
        "garbage": "not.a.token",
    }


def _sign_with_other_key(claims: dict[str, Any]) -> str:
    import jwt

    return jwt.encode(claims, "another-secret-key-of-thirty-two-bytes!", algorithm="HS256")


def test_tampered_alg_none_and_expired_tokens_are_401(
    anon_client: APIClient, user: AbstractUser, admin_user: AbstractUser, good_token: str
) -> None:
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {good_token}")
    assert anon_client.get("/api/auth/user/").status_code == 200
    for what, token in forged_tokens(user, admin_user, good_token).items():
        anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        for path in ("/api/auth/user/", "/api/destinations/", "/api/dicom/logs/"):
            response = anon_client.get(path)
            assert response.status_code == 401, (what, path, response.status_code)


def test_spoofed_forwarded_for_does_not_bypass_the_login_throttle(
    anon_client: APIClient, user: AbstractUser, settings: Any
) -> None:
    # The address limit, reached with ten usernames and ten spoofed forwarding headers.
    settings.LOGIN_THROTTLE_ADDRESS = (10, 60)
    spoofs = [
        {"HTTP_X_FORWARDED_FOR": f"10.0.0.{n}"} if n % 2 else {"HTTP_X_REAL_IP": f"10.0.1.{n}"} for n in range(10)
    ]
    for n, headers in enumerate(spoofs):
        response = anon_client.post("/api/auth/login/", {"username": f"guess{n}", "password": "wrong"}, **headers)
        assert response.status_code == 401
    for headers in (
        {"HTTP_X_FORWARDED_FOR": "203.0.113.7"},
        {"HTTP_X_FORWARDED_FOR": "203.0.113.8, 127.0.0.1"},
        {"HTTP_FORWARDED": "for=203.0.113.9"},
    ):
        response = anon_client.post("/api/auth/login/", {"username": "alice", "password": PASSWORD}, **headers)
        assert response.status_code == 429, headers
        assert "network address" in response.json()["detail"]
    # Another client (another socket address) still has its own allowance.
    other = anon_client.post("/api/auth/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9")
    assert other.status_code == 200


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("content", ["json", "multipart"])
def test_a_profile_update_with_is_staff_true_changes_nothing(
    client_user: APIClient, user: AbstractUser, method: str, content: str
) -> None:
    body = {"is_staff": True, "is_superuser": True, "is_active": True, "username": "root", "id": 999}
    response = getattr(client_user, method)("/api/auth/user/update/", body, format=content)
    assert response.status_code == 200
    assert response.json()["is_staff"] is False
    user.refresh_from_db()
    assert (user.is_staff, user.is_superuser, user.username, user.pk != 999) == (False, False, "alice", True)
    assert client_user.post("/api/destinations/", {"name": "X", "ae_title": "X", "host": "h"}).status_code == 403
