"""Shared fixtures: users, authenticated API clients, and an isolated DATA_DIR per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

# After the run, the application logs must hold no patient name or id of the tests (testsupport/logcheck.py).
pytest_plugins = ["testsupport.logcheck"]

PASSWORD = "correct horse battery staple"  # noqa: S105


@pytest.fixture(autouse=True)
def _isolated_storage(settings: Any, tmp_path: Path) -> None:
    """Every test gets its own imports and upload-temp directories."""
    settings.IMPORTS_DIR = tmp_path / "imports"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    settings.TLS_DIR = tmp_path / "tls"  # where real workers (DATA_DIR=tmp_path) look too
    (tmp_path / "imports").mkdir()
    (tmp_path / "upload-tmp").mkdir()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Users are created in nearly every test; PBKDF2's million rounds cost ~0.5 s each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db: None) -> Callable[..., AbstractUser]:
    def make(username: str = "alice", *, is_staff: bool = False, **fields: Any) -> AbstractUser:
        User = get_user_model()
        return User.objects.create_user(
            username=username, password=PASSWORD, is_staff=is_staff, is_superuser=is_staff, **fields
        )

    return make


@pytest.fixture
def user(make_user: Callable[..., AbstractUser]) -> AbstractUser:
    return make_user("alice", email="alice@example.org")


@pytest.fixture
def other_user(make_user: Callable[..., AbstractUser]) -> AbstractUser:
    return make_user("bob")


@pytest.fixture
def admin_user(make_user: Callable[..., AbstractUser]) -> AbstractUser:
    return make_user("root", is_staff=True)


def access_token_for(user: AbstractUser) -> str:
    """An access token of a new session of ``user`` (as a login would give)."""
    from authentication.sessions import session_start

    return session_start(user=user).access  # type: ignore[arg-type]


def client_for(user: AbstractUser | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_user(user: AbstractUser) -> APIClient:
    return client_for(user)


@pytest.fixture
def client_other(other_user: AbstractUser) -> APIClient:
    return client_for(other_user)


@pytest.fixture
def client_admin(admin_user: AbstractUser) -> APIClient:
    return client_for(admin_user)


@pytest.fixture
def make_destination(db: None) -> Callable[..., Any]:
    """A destination (``Destination`` row) with these fields; AE title PACS at 10.0.0.5:104 unless told."""
    from destinations.models import Destination

    def make(name: str = "PACS", **fields: Any) -> Destination:
        values: dict[str, Any] = {"ae_title": "PACS", "host": "10.0.0.5", "port": 104, **fields}
        return Destination.objects.create(name=name, **values)

    return make
