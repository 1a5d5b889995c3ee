"""The login throttle: attempts per username and per client address, counted atomically.

Each key (a username, normalised as Django's login form does, NFKC, then stripped and case-folded,
so "ｒｏｏｔ" and "Root" count as "root"; or a client address; stored as a SHA-256) has a fixed window
of ``period`` seconds. An attempt is counted *before* the password is checked, with one
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (PostgreSQL and SQLite ≥ 3.35), so a burst of
concurrent attempts from any number of web processes gets at most ``limit`` of them evaluated.
The address limit is much higher than the username one: a ward behind one NAT shares an
address, and one person's typos must not lock out the others.
"""

from __future__ import annotations

import hashlib
import math
import time
import unicodedata

from django.conf import settings
from django.db import connection

from authentication.models import LoginThrottle
from dicom_transfer.exceptions import ThrottledError

_TABLE = LoginThrottle._meta.db_table
_UPSERT = f"""
INSERT INTO {_TABLE} (key, window_start, attempts) VALUES (%s, %s, 1)
ON CONFLICT (key) DO UPDATE SET
  attempts = CASE WHEN {_TABLE}.window_start <= %s THEN 1 ELSE {_TABLE}.attempts + 1 END,
  window_start = CASE WHEN {_TABLE}.window_start <= %s THEN excluded.window_start ELSE {_TABLE}.window_start END
RETURNING attempts, window_start
"""  # noqa: S608 (the table name is ours)


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def username_key(username: str) -> str:
    """The one spelling of a username the throttle counts (API and Django admin alike)."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def _count(key: str, period: float, now: float) -> tuple[int, float]:
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [key, now, now - period, now - period])
        attempts, window_start = cursor.fetchone()
    return int(attempts), float(window_start)


class LoginThrottledError(ThrottledError):
    """``first_refusal``: this is the first refused attempt of its window (the one worth auditing)."""

    first_refusal: bool = False


def login_attempt_reserve(*, username: str, address: str | None) -> None:
    """Count one attempt; raise ``LoginThrottledError`` when the username or the address is over its limit."""
    now = time.time()
    limits = [("username", _key("u", username_key(username)), *settings.LOGIN_THROTTLE_USERNAME)]
    if address:
        limits.append(("address", _key("a", address), *settings.LOGIN_THROTTLE_ADDRESS))
    refusals: list[tuple[int, int, str]] = []
    for kind, key, limit, period in limits:
        attempts, window_start = _count(key, period, now)
        if attempts > limit:
            refusals.append((max(1, math.ceil(window_start + period - now)), attempts - limit, kind))
    if refusals:
        wait, over, kind = max(refusals)
        who = "this username" if kind == "username" else "your network address"
        error = LoginThrottledError(
            f"Too many sign-in attempts for {who}. Try again in {wait} seconds.",
            retry_after=wait,
            extra={"retry_after": wait},
        )
        error.first_refusal = over == 1
        raise error


def login_attempts_forget(*, username: str) -> None:
    """After a successful sign-in, the username's count starts again (the address's stays)."""
    LoginThrottle.objects.filter(key=_key("u", username_key(username))).delete()
