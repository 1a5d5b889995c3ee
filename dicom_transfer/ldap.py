"""Directory login (LDAP / Active Directory with django-auth-ldap), off unless LDAP_SERVER_URI is set.

``ldap_settings()`` turns the LDAP_* environment variables (README, "Directory login") into
django-auth-ldap's settings. Directory groups map to our roles: a member of LDAP_ADMIN_GROUP is
an admin, else of LDAP_AUDITOR_GROUP an auditor, else of LDAP_OPERATOR_GROUP an operator; a
directory user in none of them can't sign in. Local accounts (the admin ``make run`` creates)
keep working beside the directory.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from dicom_transfer.env import env_bool, env_float, env_str

GROUP_TYPES = ("groupOfNames", "groupOfUniqueNames", "posixGroup", "activeDirectory")


def ldap_settings() -> dict[str, Any]:
    """django-auth-ldap's settings and the authentication backends, from the environment."""
    try:
        import ldap
        from django_auth_ldap.config import (
            GroupOfNamesType,
            GroupOfUniqueNamesType,
            LDAPGroupQuery,
            LDAPSearch,
            NestedActiveDirectoryGroupType,
            PosixGroupType,
        )
    except ImportError as e:
        raise ImproperlyConfigured(
            f"LDAP_SERVER_URI is set but django-auth-ldap is not installed ({e}): "
            "pip install -r requirements-ldap.txt (needs Debian's libldap2-dev and libsasl2-dev)."
        ) from None

    config: dict[str, Any] = {
        "AUTH_LDAP_SERVER_URI": env_str("LDAP_SERVER_URI"),
        "AUTH_LDAP_BIND_DN": env_str("LDAP_BIND_DN", ""),
        "AUTH_LDAP_BIND_PASSWORD": env_str("LDAP_BIND_PASSWORD", ""),
        "AUTH_LDAP_START_TLS": env_bool("LDAP_START_TLS", False),
        "AUTH_LDAP_USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_CACHE_TIMEOUT": 0,
    }
    timeout = env_float("LDAP_TIMEOUT", 10.0, minimum=1)
    options: dict[Any, Any] = {ldap.OPT_NETWORK_TIMEOUT: timeout, ldap.OPT_TIMEOUT: timeout, ldap.OPT_REFERRALS: 0}
    ca_file = env_str("LDAP_CA_FILE", "")
    if ca_file:
        options[ldap.OPT_X_TLS_CACERTFILE] = ca_file
        options[ldap.OPT_X_TLS_NEWCTX] = 0
    config["AUTH_LDAP_CONNECTION_OPTIONS"] = options

    template = env_str("LDAP_USER_DN_TEMPLATE", "")
    search_base = env_str("LDAP_USER_SEARCH_BASE", "")
    if template:
        config["AUTH_LDAP_USER_DN_TEMPLATE"] = template
    elif search_base:
        user_filter = env_str("LDAP_USER_FILTER", "(uid=%(user)s)")
        config["AUTH_LDAP_USER_SEARCH"] = LDAPSearch(search_base, ldap.SCOPE_SUBTREE, user_filter)
    else:
        raise ImproperlyConfigured("LDAP_SERVER_URI is set: set LDAP_USER_SEARCH_BASE or LDAP_USER_DN_TEMPLATE too.")

    group_base = env_str("LDAP_GROUP_SEARCH_BASE", "")
    if not group_base:
        raise ImproperlyConfigured("LDAP_SERVER_URI is set: set LDAP_GROUP_SEARCH_BASE (roles come from groups).")
    group_type = env_str("LDAP_GROUP_TYPE", "groupOfNames")
    if group_type not in GROUP_TYPES:
        raise ImproperlyConfigured(f"LDAP_GROUP_TYPE must be one of {', '.join(GROUP_TYPES)}, got {group_type!r}.")
    object_class = {
        "groupOfNames": "(objectClass=groupOfNames)",
        "groupOfUniqueNames": "(objectClass=groupOfUniqueNames)",
        "posixGroup": "(objectClass=posixGroup)",
        "activeDirectory": "(objectClass=group)",
    }[group_type]
    config["AUTH_LDAP_GROUP_SEARCH"] = LDAPSearch(group_base, ldap.SCOPE_SUBTREE, object_class)
    config["AUTH_LDAP_GROUP_TYPE"] = {
        "groupOfNames": GroupOfNamesType,
        "groupOfUniqueNames": GroupOfUniqueNamesType,
        "posixGroup": PosixGroupType,
        "activeDirectory": NestedActiveDirectoryGroupType,
    }[group_type]()
    config["AUTH_LDAP_FIND_GROUP_PERMS"] = False
    config["AUTH_LDAP_MIRROR_GROUPS"] = False

    groups = {
        "admin": env_str("LDAP_ADMIN_GROUP", ""),
        "auditor": env_str("LDAP_AUDITOR_GROUP", ""),
        "operator": env_str("LDAP_OPERATOR_GROUP", ""),
    }
    if not any(groups.values()):
        raise ImproperlyConfigured(
            "LDAP_SERVER_URI is set: set at least one of LDAP_ADMIN_GROUP, LDAP_AUDITOR_GROUP, LDAP_OPERATOR_GROUP."
        )
    config["LDAP_ROLE_GROUPS"] = {role: dn for role, dn in groups.items() if dn}
    required = None
    for dn in config["LDAP_ROLE_GROUPS"].values():
        required = LDAPGroupQuery(dn) if required is None else required | LDAPGroupQuery(dn)
    config["AUTH_LDAP_REQUIRE_GROUP"] = required
    config["AUTHENTICATION_BACKENDS"] = [
        "authentication.ldap.DirectoryBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    return config
