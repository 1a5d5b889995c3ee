"""Accounts: each user's role, their sign-in sessions, and the login throttle's counters.

A user's role is ``admin`` when ``is_staff`` is set (so accounts made by ``createsuperuser`` or
``ensure_admin`` are admins), otherwise the ``role`` of their ``Account`` (``operator`` when
there is none). ``authentication.services.user_set_role`` keeps both in step.

A ``LoginSession`` is one sign-in. Its access and refresh tokens carry its id (claim ``sid``);
the session stores only the id (``jti``) of its current refresh token, never a token. It ends
at logout, password change or reset, and deactivation; ``expires_at`` is fixed at sign-in, so
refreshing never extends it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"
    AUDITOR = "auditor", "Auditor"


class Account(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="account"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.OPERATOR)
    # Set when an admin creates the account or resets its password: until the user chooses their
    # own, the API answers 403 to everything but the profile, the password change and logout.
    must_change_password = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"account {self.pk} ({self.role})"


class EndReason(models.TextChoices):
    LOGOUT = "logout", "Logout"
    PASSWORD_CHANGE = "password_change", "Password changed"
    PASSWORD_RESET = "password_reset", "Password reset"
    DEACTIVATED = "deactivated", "Account deactivated"
    REFRESH_REUSE = "refresh_reuse", "A spent refresh token was used again"


class LoginSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # The jti of the one refresh token that may be used next; a rotated one no longer matches.
    refresh_jti = models.CharField(max_length=64)
    # Django's session auth hash of the password at sign-in: a password changed anywhere (the API,
    # the Django admin, `manage.py changepassword`) ends the session at the next request.
    auth_hash = models.CharField(max_length=128)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"], name="login_session_user_idx")]

    def __str__(self) -> str:
        return f"session {self.pk}"


class LoginThrottle(models.Model):
    """One fixed window of login attempts for a key (a username or a client address, hashed)."""

    key = models.CharField(max_length=64, primary_key=True)
    window_start = models.FloatField()  # epoch seconds
    attempts = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["window_start"], name="login_throttle_window_idx")]

    def __str__(self) -> str:
        return f"throttle {self.key[:8]}"
