"""The Django admin's user pages are read-only: no change there escapes the audit trail or drifts the role."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from authentication.tests.helpers import me, tokens
from conftest import PASSWORD
from dicom_api.models import TransferLog

pytestmark = pytest.mark.django_db


def change_form(user: User, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    data.update(over)
    return {name: value for name, value in data.items() if value is not None}


@pytest.fixture
def admin_browser(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_promoting_a_user_in_the_django_admin_is_refused(admin_browser: Client, user: User) -> None:
    response = admin_browser.post(
        f"/admin/auth/user/{user.pk}/change/", change_form(user, is_staff="on", is_superuser="on")
    )
    assert response.status_code == 403
    user.refresh_from_db()
    assert (user.is_staff, user.is_superuser) == (False, False)
    assert TransferLog.objects.count() == 0


def test_deactivating_a_user_in_the_django_admin_is_refused(admin_browser: Client, user: User) -> None:
    session = tokens("alice")
    response = admin_browser.post(f"/admin/auth/user/{user.pk}/change/", change_form(user, is_active=None))
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.is_active
    assert me(session["access"]).status_code == 200


def test_setting_a_password_in_the_django_admin_is_refused(admin_browser: Client, user: User) -> None:
    response = admin_browser.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "an-admin-chosen-pass-71", "password2": "an-admin-chosen-pass-71", "usable_password": "true"},
    )
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_adding_or_deleting_a_user_in_the_django_admin_is_refused(admin_browser: Client, user: User) -> None:
    assert admin_browser.get("/admin/auth/user/add/").status_code == 403
    assert admin_browser.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=user.pk).exists()


def test_the_user_pages_show_the_users_and_say_where_to_manage_them(admin_browser: Client, user: User) -> None:
    listing = admin_browser.get("/admin/auth/user/")
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    assert "/api/auth/users/" in listing.content.decode()
    page = admin_browser.get(f"/admin/auth/user/{user.pk}/change/")
    assert page.status_code == 200
    assert "web page" in page.content.decode()
