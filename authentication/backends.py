"""The API's authentication: a JWT whose session is still open, of an active user."""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from authentication.models import LoginSession
from authentication.sessions import SESSION_ENDED, session_is_valid


class SessionJWTAuthentication(JWTAuthentication):
    """SimpleJWT's check of the token, then one query: the session with its user and account.

    The token's session must be open (not logged out, not ended by a password change, reset or
    deactivation, not expired), the user active and the password unchanged since sign-in. A
    token without a session (made before sessions existed, or by hand) is refused.
    """

    def get_user(self, validated_token: Any) -> Any:
        sid = validated_token.get("sid")
        try:
            session_id = uuid.UUID(str(sid))
            user_id = int(validated_token.get("user_id"))
        except (TypeError, ValueError):
            raise InvalidToken("Token has no session.") from None
        session = (
            LoginSession.objects.select_related("user", "user__account").filter(pk=session_id, user_id=user_id).first()
        )
        if session is None or not session_is_valid(session, session.user):
            raise AuthenticationFailed(SESSION_ENDED, code="session_ended")
        user = session.user
        return user
