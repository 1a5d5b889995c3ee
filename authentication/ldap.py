"""The directory's users: django-auth-ldap's backend, with each sign-in setting the role from groups."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django_auth_ldap.backend import LDAPBackend

from authentication.models import Account, Role

logger = logging.getLogger(__name__)

# The first group the user belongs to gives the role.
ROLE_ORDER = (Role.ADMIN, Role.AUDITOR, Role.OPERATOR)


def role_for_groups(group_dns: set[str]) -> Role | None:
    mapping: dict[str, str] = getattr(settings, "LDAP_ROLE_GROUPS", {})
    members = {dn.lower() for dn in group_dns}
    for role in ROLE_ORDER:
        dn = mapping.get(role.value)
        if dn and dn.lower() in members:
            return role
    return None


class DirectoryBackend(LDAPBackend):
    """Sign-in against the directory; the role follows the groups at every sign-in.

    A directory login maps only onto an account the directory made (one without a usable
    password): a local account of the same name (``admin``, matched case-insensitively) is never
    taken over. Its owner signs in with its local password (the next backend).
    """

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        user, built = super().get_or_build_user(username, ldap_user)
        if not built and user.has_usable_password():
            logger.warning("directory sign-in refused: a local account (user id %s) has this username", user.pk)
            raise ldap_user.AuthenticationFailed("a local account with a password has this username")
        return user, built

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> User | None:
        user = super().authenticate_ldap_user(ldap_user, password)
        if not isinstance(user, User):
            return None
        role = role_for_groups(set(ldap_user.group_dns))
        if role is None:  # AUTH_LDAP_REQUIRE_GROUP refuses this before; kept as a guard
            return None
        flag = role == Role.ADMIN
        if (user.is_staff, user.is_superuser) != (flag, flag):
            user.is_staff = user.is_superuser = flag
            user.save(update_fields=["is_staff", "is_superuser"])
        Account.objects.update_or_create(user=user, defaults={"role": role})
        logger.info("directory sign-in (user id %s, role %s)", user.pk, role.value)
        return user
