"""``/api/auth/user/update/`` writes only what it changes: an admin's change made meanwhile stays.

The request's user is read when the request begins; an admin may deactivate, demote or reset the
password of that account before the profile is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser, User

from authentication import services
from authentication.tests.helpers import login
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

TEMPORARY = "Temp-pass-9182x"


def test_a_profile_save_begun_before_an_admins_changes_keeps_them(
    make_user: Callable[..., AbstractUser], admin_user: User, anon_client: Any
) -> None:
    victim = make_user("mallory", is_staff=True)
    stale = User.objects.get(pk=victim.pk)  # what request.user holds when the PATCH began
    services.user_update(
        actor=admin_user, request=None, user=User.objects.get(pk=victim.pk), is_active=False, role="operator"
    )
    services.user_reset_password(
        actor=admin_user, request=None, user=User.objects.get(pk=victim.pk), password=TEMPORARY
    )

    services.profile_update(user=stale, request=None, first_name="Mal")

    now = User.objects.get(pk=victim.pk)
    assert now.first_name == "Mal"
    assert (now.is_active, now.is_staff, now.is_superuser) == (False, False, False)
    assert now.check_password(TEMPORARY)
    assert not now.check_password(PASSWORD)
    assert login(anon_client, "mallory", PASSWORD).status_code == 401


def test_a_profile_save_begun_before_a_deactivation_does_not_reactivate(user: User) -> None:
    stale = User.objects.get(pk=user.pk)
    User.objects.filter(pk=user.pk).update(is_active=False)
    services.profile_update(user=stale, request=None, email="new@example.org")
    user.refresh_from_db()
    assert (user.is_active, user.email) == (False, "new@example.org")
