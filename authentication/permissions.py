"""The API's permission classes, by role (``authentication.roles``)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from authentication.models import Role
from authentication.roles import must_change_password, role_of

PASSWORD_CHANGE_REQUIRED = "Choose a new password first (your profile: current and new password)."  # noqa: S105


class RolePolicy(BasePermission):
    """The default of every view: signed in, password changed if it must be, and auditors read only.

    Views a user needs before changing their password (their profile, the password change,
    logout) use ``IsAuthenticated`` instead.
    """

    message = "Auditors can read, not change anything."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if must_change_password(user):
            raise PermissionDenied(PASSWORD_CHANGE_REQUIRED, code="password_change_required")
        return request.method in SAFE_METHODS or role_of(user) != Role.AUDITOR


class IsAdmin(RolePolicy):
    message = "Only administrators can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and role_of(request.user) == Role.ADMIN


class ReadsEveryAuditEntry(RolePolicy):
    """Admins and auditors: for what is computed from everyone's audit entries (the dashboard)."""

    message = "Only administrators and auditors can see this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and role_of(request.user) in (Role.ADMIN, Role.AUDITOR)
