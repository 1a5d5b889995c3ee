"""Small helpers of the authentication tests."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from conftest import PASSWORD


def login(client: APIClient, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/api/auth/login/", {"username": username, "password": password}, format="json", **extra)


def tokens(username: str, password: str = PASSWORD) -> dict[str, Any]:
    """A fresh session's tokens (a login through the API)."""
    response = login(APIClient(), username, password)
    assert response.status_code == 200, response.content
    return dict(response.json())


def refresh(refresh_token: str) -> Any:
    return APIClient().post("/api/auth/refresh/", {"refresh": refresh_token}, format="json")


def me(access_token: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client.get("/api/auth/user/")


def bearer(access_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client
