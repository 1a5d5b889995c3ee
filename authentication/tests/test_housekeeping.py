from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import AbstractUser
from django.utils import timezone

from authentication.models import LoginSession, LoginThrottle
from authentication.tests.helpers import tokens
from dicom_api.services.housekeeping import run_housekeeping

pytestmark = pytest.mark.django_db


def test_old_throttle_windows_and_finished_sessions_are_pruned(user: AbstractUser) -> None:
    now = time.time()
    LoginThrottle.objects.create(key="old", window_start=now - 3 * 86400, attempts=3)
    LoginThrottle.objects.create(key="current", window_start=now - 10, attempts=3)
    tokens("alice")
    tokens("alice")
    live, ended = LoginSession.objects.order_by("created_at")
    LoginSession.objects.filter(pk=ended.pk).update(ended_at=timezone.now() - timedelta(days=3))
    assert run_housekeeping(only="prune_sign_ins") == {"prune_sign_ins": 2}
    keys = set(LoginThrottle.objects.values_list("key", flat=True))
    assert "old" not in keys and "current" in keys
    assert list(LoginSession.objects.values_list("pk", flat=True)) == [live.pk]
