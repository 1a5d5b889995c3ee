"""Housekeeping of sign-ins: old throttle windows and finished sessions (run by the workers'
housekeeping, ``dicom_api.services.housekeeping``)."""

from __future__ import annotations

import time
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from authentication.models import LoginSession, LoginThrottle

# Longer than any throttle window (a rate "N/day" has a one-day window).
KEEP = 2 * 86400


def sign_ins_prune() -> int:
    """Delete throttle windows that ended long ago and sessions that ended or expired long ago."""
    throttles, _ = LoginThrottle.objects.filter(window_start__lt=time.time() - KEEP).delete()
    cutoff = timezone.now() - timedelta(seconds=KEEP)
    sessions, _ = LoginSession.objects.filter(Q(expires_at__lt=cutoff) | Q(ended_at__lt=cutoff)).delete()
    return throttles + sessions
