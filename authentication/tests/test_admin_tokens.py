"""No refresh token is readable anywhere: not in the Django admin, not in the database."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser
from django.db import connection
from django.test import Client

from authentication.models import LoginSession
from authentication.tests.helpers import tokens

pytestmark = pytest.mark.django_db


def test_the_admin_shows_no_token_and_the_database_holds_none(admin_user: AbstractUser) -> None:
    pair = tokens("root")
    client = Client()
    client.force_login(admin_user)
    index = client.get("/admin/").content.decode().lower()
    for name in ("outstanding", "blacklist", "login session", "token_blacklist"):
        assert name not in index
    assert client.get("/admin/token_blacklist/outstandingtoken/").status_code == 404
    tables = connection.introspection.table_names()
    assert not [name for name in tables if name.startswith("token_blacklist")]
    # What the database keeps of the session: the refresh token's id, not the token.
    stored = " ".join(str(value) for value in LoginSession.objects.values_list().get())
    assert pair["refresh"] not in stored and pair["access"] not in stored
    assert pair["refresh"].split(".")[2] not in stored  # not even its signature
