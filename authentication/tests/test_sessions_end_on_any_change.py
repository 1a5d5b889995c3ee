"""A deactivation or a password change ends every session, by whatever path it is made.

The Django admin, ``manage.py changepassword`` and the shell save the user without the services;
a later reactivation must not bring the old tokens back.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from authentication.models import EndReason, LoginSession
from authentication.tests.helpers import me, refresh, tokens

pytestmark = pytest.mark.django_db


def test_a_deactivation_saved_outside_the_services_ends_the_sessions_for_good(user: User) -> None:
    old = tokens("alice")
    user.is_active = False
    user.save()
    assert set(LoginSession.objects.values_list("end_reason", flat=True)) == {EndReason.DEACTIVATED}
    user.is_active = True
    user.save()
    assert me(old["access"]).status_code == 401
    assert refresh(old["refresh"]).status_code == 401
    assert me(tokens("alice")["access"]).status_code == 200  # a new sign-in works


def test_a_deactivation_by_a_queryset_update_ends_the_session_at_its_next_use(user: User) -> None:
    old = tokens("alice")
    User.objects.filter(pk=user.pk).update(is_active=False)  # no signal
    assert me(old["access"]).status_code == 401
    User.objects.filter(pk=user.pk).update(is_active=True)
    assert me(old["access"]).status_code == 401
    assert refresh(old["refresh"]).status_code == 401
    assert LoginSession.objects.get().end_reason == EndReason.DEACTIVATED


def test_manage_py_changepassword_ends_the_sessions(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    old = tokens("alice")
    monkeypatch.setattr("getpass.getpass", lambda *args, **kwargs: "a-brand-new-passphrase-77")
    call_command("changepassword", "alice")
    assert LoginSession.objects.get().end_reason == EndReason.PASSWORD_CHANGE
    assert me(old["access"]).status_code == 401
    assert refresh(old["refresh"]).status_code == 401


def test_a_saved_last_login_or_name_leaves_the_sessions_open(user: User) -> None:
    old = tokens("alice")
    user.first_name = "Alice"
    user.save()
    assert me(old["access"]).status_code == 200
    assert LoginSession.objects.get().ended_at is None


def test_a_reset_by_an_admin_keeps_its_own_end_reason(user: User, client_admin: object) -> None:
    tokens("alice")
    response = client_admin.post(  # type: ignore[attr-defined]
        f"/api/auth/users/{user.pk}/reset_password/", {"password": "Temp-pass-9182x"}, format="json"
    )
    assert response.status_code == 200
    assert LoginSession.objects.get(user=user).end_reason == EndReason.PASSWORD_RESET
