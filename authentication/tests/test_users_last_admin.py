"""``PATCH /api/auth/users/{id}/``: the last active admin can't be demoted or deactivated (409)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser, User
from django.db import connection

from authentication import services
from authentication.models import Role
from dicom_transfer.exceptions import ConflictError


@pytest.fixture
def boss(make_user: Callable[..., AbstractUser]) -> AbstractUser:
    return make_user("boss", is_staff=True)


@pytest.mark.django_db
def test_an_admin_demoted_meanwhile_cannot_demote_the_last_admin(admin_user: User, boss: User) -> None:
    stale_boss = User.objects.get(pk=boss.pk)  # boss's request passed the permission check already
    services.user_update(actor=admin_user, request=None, user=boss, role=Role.OPERATOR)
    with pytest.raises(ConflictError) as refused:
        services.user_update(actor=stale_boss, request=None, user=admin_user, role=Role.OPERATOR)
    assert refused.value.field == "role"
    with pytest.raises(ConflictError) as refused:
        services.user_update(actor=stale_boss, request=None, user=admin_user, is_active=False)
    assert refused.value.field == "is_active"
    admin_user.refresh_from_db()
    assert (admin_user.is_staff, admin_user.is_active) == (True, True)


@pytest.mark.django_db
def test_of_two_admins_one_may_demote_the_other(client_admin: Any, boss: User) -> None:
    response = client_admin.patch(f"/api/auth/users/{boss.pk}/", {"role": "operator"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "operator"


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(admin_user: User, boss: User) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor: User, target: User) -> None:
        try:
            barrier.wait()
            services.user_update(actor=actor, request=None, user=target, role=Role.OPERATOR)
            outcomes.append("demoted")
        except ConflictError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(User.objects.get(pk=a.pk), User.objects.get(pk=b.pk)))
        for a, b in ((admin_user, boss), (boss, admin_user))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["demoted", "refused"]
    assert User.objects.filter(is_staff=True, is_active=True).count() == 1
