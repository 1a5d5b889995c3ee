"""Who a signed-in user is to the application: ``operator``, ``admin`` or ``auditor``.

- operator: imports, sends, tests connections, reads their own audit entries;
- admin: everything an operator does, plus destinations, users and everyone's audit entries;
- auditor: reads everyone's audit entries (and exports them) and the enabled destinations;
  changes nothing but their own profile and password: no import, no send, no connection test.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from authentication.models import Account, Role


def role_of(user: AbstractBaseUser | AnonymousUser | None) -> Role | None:
    """The user's role (``None`` when not signed in). ``is_staff`` always means admin."""
    if user is None or not user.is_authenticated:
        return None
    if getattr(user, "is_staff", False):
        return Role.ADMIN
    try:
        role = Role(user.account.role)  # type: ignore[union-attr,attr-defined]
    except Account.DoesNotExist:
        return Role.OPERATOR
    return Role.OPERATOR if role == Role.ADMIN else role


def must_change_password(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    if user is None or not user.is_authenticated:
        return False
    try:
        return bool(user.account.must_change_password)  # type: ignore[union-attr,attr-defined]
    except Account.DoesNotExist:
        return False


def reads_every_audit_entry(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    return role_of(user) in (Role.ADMIN, Role.AUDITOR)
