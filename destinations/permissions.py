"""Who may do what with destinations: everyone signed in reads, only admins (``is_staff``) write."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


class IsAdminOrReadOnly(BasePermission):
    message = "Only administrators can create, change or delete destinations."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or bool(getattr(user, "is_staff", False))
