"""Who may do what with destinations: everyone signed in reads, only admins write."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from authentication.models import Role
from authentication.permissions import RolePolicy
from authentication.roles import role_of


class IsAdminOrReadOnly(RolePolicy):
    message = "Only administrators can create, change or delete destinations."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.method in SAFE_METHODS or role_of(request.user) == Role.ADMIN
