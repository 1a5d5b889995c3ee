"""The current password asked for a password change is throttled and audited like a sign-in.

A stolen access token must not be a way to try passwords faster than the login allows:
``/api/auth/user/update/`` and the Django admin's ``/admin/password_change/`` count on the
username's login throttle key, and a wrong current password is an audit entry.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from authentication.tests.helpers import bearer, login, tokens
from conftest import PASSWORD
from dicom_api.models import Action, Status, TransferLog

pytestmark = pytest.mark.django_db

NEW = "N3w-long-passphrase!"


def change(client: Any, current: str) -> Any:
    return client.patch("/api/auth/user/update/", {"current_password": current, "new_password": NEW}, format="json")


def test_guessing_the_current_password_is_throttled(user: User) -> None:
    client = bearer(tokens("alice")["access"])
    answers = [change(client, f"guess{i}").status_code for i in range(12)]
    assert answers == [400] * 10 + [429] * 2
    response = change(client, PASSWORD)  # the right one waits too
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_each_wrong_current_password_is_audited(user: User) -> None:
    client = bearer(tokens("alice")["access"])
    for i in range(3):
        change(client, f"guess{i}")
    entries = TransferLog.objects.filter(action=Action.PASSWORD_CHANGE, user=user)
    assert list(entries.values_list("status", flat=True)) == [Status.FAILED] * 3
    assert all(entry.error_message == "The current password is wrong." for entry in entries)


def test_the_guesses_and_the_sign_ins_share_one_count(user: User, anon_client: Any) -> None:
    client = bearer(tokens("alice")["access"])
    for i in range(10):
        change(client, f"guess{i}")
    assert login(anon_client, "alice", PASSWORD, REMOTE_ADDR="10.9.9.9").status_code == 429


def test_a_right_current_password_changes_it_and_starts_the_count_again(user: User) -> None:
    client = bearer(tokens("alice")["access"])
    for i in range(9):
        change(client, f"guess{i}")
    assert change(client, PASSWORD).status_code == 200
    assert [change(bearer(tokens("alice", NEW)["access"]), f"g{i}").status_code for i in range(3)] == [400] * 3


def test_the_django_admins_password_change_is_throttled_and_audited(admin_user: User) -> None:
    browser = Client()
    browser.force_login(admin_user)
    form = {"old_password": "wrong", "new_password1": NEW, "new_password2": NEW}
    answers = [browser.post("/admin/password_change/", form).status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]
    failed = TransferLog.objects.filter(action=Action.PASSWORD_CHANGE, user=admin_user, status=Status.FAILED)
    assert failed.filter(error_message="The current password is wrong.").count() == 10
    assert failed.filter(error_message__startswith="Throttled").count() == 1
    assert all(entry.details == {"via": "admin"} for entry in failed)
    admin_user.refresh_from_db()
    assert admin_user.check_password(PASSWORD)


def test_a_password_changed_in_the_django_admin_is_audited(admin_user: User) -> None:
    browser = Client()
    browser.force_login(admin_user)
    form = {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    assert browser.post("/admin/password_change/", form).status_code == 302
    entry = TransferLog.objects.get(action=Action.PASSWORD_CHANGE)
    assert (entry.user, entry.status, entry.details) == (admin_user, Status.SUCCESS, {"via": "admin"})
