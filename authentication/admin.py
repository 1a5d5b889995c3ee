"""The Django admin shows users read-only: every change goes through the page or ``/api/auth/users/``.

Changed there, a user's ``is_staff``, ``is_superuser``, ``is_active`` or password would bypass the
audit trail and let ``is_staff`` drift from ``Account.role``; the services keep both in step and
audit every change.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse

MANAGE_USERS_ELSEWHERE = (
    "Users are read-only here: create, change, deactivate them and reset passwords in the web page "
    "(Users) or through /api/auth/users/, so that every change is in the audit trail."
)


class ReadOnlyUserAdmin(UserAdmin):
    """View only: no add, no change (nor password change), no delete."""

    fieldsets = (
        (None, {"fields": ("username",), "description": MANAGE_USERS_ELSEWHERE}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Role and status", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        messages.info(request, MANAGE_USERS_ELSEWHERE)
        return super().changelist_view(request, extra_context)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, ReadOnlyUserAdmin)
