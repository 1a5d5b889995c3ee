"""Sign-in sessions and their JWTs.

Every token pair belongs to a ``LoginSession`` (claim ``sid``). A refresh rotates the session's
one valid refresh token with a conditional UPDATE (two refreshes of the same token: one wins)
and keeps the session's absolute expiry, so a stolen refresh token dies with its session at the
latest; a spent refresh token used again ends the session at once (whoever used it first, the
thief or the user, loses it). Ending a session (logout, password change or reset, deactivation)
stops its refresh token *and* its access tokens at once: the authentication class reads the
session with the user in the one query it always made (``authentication.backends``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_to_epoch

from authentication.models import EndReason, LoginSession
from dicom_transfer.exceptions import InvalidInputError, NotAuthenticatedError

logger = logging.getLogger(__name__)

SESSION_ENDED = "Your session has ended. Please sign in again."


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    session: LoginSession


def _tokens(session: LoginSession, user: User) -> TokenPair:
    refresh = RefreshToken.for_user(user)
    refresh["sid"] = str(session.pk)
    expires = datetime_to_epoch(session.expires_at)
    refresh["exp"] = expires
    access = refresh.access_token
    access["exp"] = min(int(access["exp"]), expires)
    session.refresh_jti = str(refresh["jti"])
    return TokenPair(access=str(access), refresh=str(refresh), session=session)


def session_start(*, user: User) -> TokenPair:
    """A new session for ``user`` (whose credentials were checked), lasting JWT_REFRESH_LIFETIME."""
    now = timezone.now()
    LoginSession.objects.filter(user=user).filter(Q(expires_at__lte=now) | Q(ended_at__isnull=False)).delete()
    session = LoginSession(
        user=user,
        expires_at=now + api_settings.REFRESH_TOKEN_LIFETIME,
        auth_hash=user.get_session_auth_hash(),
    )
    pair = _tokens(session, user)
    session.save()
    return pair


def session_is_valid(session: LoginSession, user: User) -> bool:
    """The session is current and its user may still use it (active, password unchanged).

    A session refused because its user was deactivated or their password changed by a path that
    sent no signal (a queryset ``update()``) is ended here, so a reactivation never revives it.
    """
    if session.ended_at is not None or session.expires_at <= timezone.now():
        return False
    if user.is_active and constant_time_compare(session.auth_hash, user.get_session_auth_hash()):
        return True
    reason = EndReason.PASSWORD_CHANGE if user.is_active else EndReason.DEACTIVATED
    LoginSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(ended_at=timezone.now(), end_reason=reason)
    return False


def _decode_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)  # type: ignore[arg-type]
    except TokenError as e:
        raise NotAuthenticatedError(str(e)) from None


def _session_of(token: Any) -> LoginSession | None:
    sid = token.get("sid")
    if not isinstance(sid, str):
        return None
    try:
        return LoginSession.objects.select_related("user").filter(pk=sid).first()
    except Exception:  # a malformed uuid in a validly signed token: treat as unknown
        return None


def session_refresh(*, refresh: str) -> TokenPair:
    """A new token pair for the session of ``refresh``; that refresh token is spent."""
    token = _decode_refresh(refresh)
    session = _session_of(token)
    if session is None or str(session.user_id) != str(token.get("user_id")):
        raise NotAuthenticatedError(SESSION_ENDED)
    if not session_is_valid(session, session.user):
        raise NotAuthenticatedError(SESSION_ENDED)
    old_jti = str(token["jti"])
    pair = _tokens(session, session.user)
    won = LoginSession.objects.filter(
        pk=session.pk, refresh_jti=old_jti, ended_at__isnull=True, expires_at__gt=timezone.now()
    ).update(refresh_jti=pair.session.refresh_jti)
    if won != 1:
        # A spent refresh token used again: a copy of it is in other hands (or a tab was
        # duplicated). Whoever holds the current one can't be told from a thief: end the session.
        ended = LoginSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
            ended_at=timezone.now(), end_reason=EndReason.REFRESH_REUSE
        )
        if ended:
            logger.warning("session of user id %s ended: a spent refresh token was used again", session.user_id)
        raise NotAuthenticatedError("This refresh token has already been used; the session has ended.")
    return pair


def session_end(*, refresh: str, user: User) -> LoginSession:
    """Logout: end the session of ``refresh`` (the caller's current refresh token)."""
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]
    except TokenError as e:
        raise InvalidInputError(str(e), field="refresh") from None
    if str(token.get("user_id")) != str(user.pk):
        raise InvalidInputError("This refresh token belongs to another user.", field="refresh")
    session = _session_of(token)
    ended = 0
    if session is not None:
        ended = LoginSession.objects.filter(pk=session.pk, refresh_jti=str(token["jti"]), ended_at__isnull=True).update(
            ended_at=timezone.now(), end_reason=EndReason.LOGOUT
        )
    if not ended:
        raise InvalidInputError("This refresh token has already been used or its session has ended.", field="refresh")
    assert session is not None
    return session


def sessions_end_all(*, user: User, reason: EndReason, at: datetime | None = None) -> int:
    """End every open session of ``user``: their refresh and access tokens stop working at once."""
    count = LoginSession.objects.filter(user=user, ended_at__isnull=True).update(
        ended_at=at or timezone.now(), end_reason=reason
    )
    logger.info("ended %d session(s) of user id %s (%s)", count, user.pk, reason)
    return count
