"""Directory login against a real OpenLDAP slapd started by the test (127.0.0.1, its own database)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from authentication.models import Account, Role
from authentication.tests.helpers import bearer, login
from dicom_api.models import Action, Status, TransferLog
from testsupport import slapd

pytestmark = pytest.mark.django_db

SUFFIX = slapd.SUFFIX
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
ADMINS, AUDITORS, OPERATORS = (f"cn={name},{GROUPS}" for name in ("pacs-admins", "auditors", "radiographers"))


def person(uid: str, password: str, given: str, family: str) -> tuple[str, dict[str, list[bytes]]]:
    return (
        f"uid={uid},{PEOPLE}",
        {
            "objectClass": [b"inetOrgPerson"],
            "uid": [uid.encode()],
            "cn": [f"{given} {family}".encode()],
            "givenName": [given.encode()],
            "sn": [family.encode()],
            "mail": [f"{uid}@hospital.test".encode()],
            "userPassword": [password.encode()],
        },
    )


def group(dn: str, *members: str) -> tuple[str, dict[str, list[bytes]]]:
    cn = dn.split(",")[0].split("=")[1]
    return dn, {"objectClass": [b"groupOfNames"], "cn": [cn.encode()], "member": [m.encode() for m in members]}


@pytest.fixture(scope="module")
def directory() -> Iterator[slapd.Directory]:
    reason = slapd.missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the directory login tests")
        pytest.skip(reason)
    with slapd.slapd() as running:
        slapd.load(
            running,
            [
                (SUFFIX, {"objectClass": [b"dcObject", b"organization"], "dc": [b"hospital"], "o": [b"Hospital"]}),
                (PEOPLE, {"objectClass": [b"organizationalUnit"], "ou": [b"people"]}),
                (GROUPS, {"objectClass": [b"organizationalUnit"], "ou": [b"groups"]}),
                person("dana", "dana-directory-pw", "Dana", "Scully"),
                person("omar", "omar-directory-pw", "Omar", "Little"),
                person("ivy", "ivy-directory-pw", "Ivy", "Auditor"),
                person("nobody", "nobody-directory-pw", "No", "Group"),
                group(ADMINS, f"uid=dana,{PEOPLE}"),
                group(AUDITORS, f"uid=ivy,{PEOPLE}"),
                group(OPERATORS, f"uid=omar,{PEOPLE}", f"uid=dana,{PEOPLE}"),
            ],
        )
        yield running


@pytest.fixture
def ldap_on(directory: slapd.Directory, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings an installation gets from these environment variables (README, "Directory login")."""
    from dicom_transfer.ldap import ldap_settings

    for name, value in {
        "LDAP_SERVER_URI": directory.uri,
        "LDAP_BIND_DN": directory.root_dn,
        "LDAP_BIND_PASSWORD": directory.root_password,
        "LDAP_USER_SEARCH_BASE": PEOPLE,
        "LDAP_GROUP_SEARCH_BASE": GROUPS,
        "LDAP_ADMIN_GROUP": ADMINS,
        "LDAP_AUDITOR_GROUP": AUDITORS,
        "LDAP_OPERATOR_GROUP": OPERATORS,
    }.items():
        monkeypatch.setenv(name, value)
    for name, value in ldap_settings().items():
        setattr(settings, name, value)


def test_a_directory_user_signs_in_with_the_role_of_their_group(ldap_on: None, anon_client: Any) -> None:
    response = login(anon_client, "omar", "omar-directory-pw")
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "operator"
    omar = User.objects.get(username="omar")
    assert (omar.first_name, omar.last_name, omar.email) == ("Omar", "Little", "omar@hospital.test")
    assert not omar.has_usable_password()  # the directory holds the password, not us
    assert TransferLog.objects.get(action=Action.LOGIN).status == Status.SUCCESS
    assert bearer(response.json()["access"]).get("/api/dicom/logs/").status_code == 200


def test_the_admin_group_wins_and_the_auditor_group_maps_to_auditor(ldap_on: None, anon_client: Any) -> None:
    dana = login(anon_client, "dana", "dana-directory-pw").json()["user"]
    assert (dana["role"], dana["is_staff"]) == ("admin", True)
    ivy = login(anon_client, "ivy", "ivy-directory-pw").json()
    assert ivy["user"]["role"] == "auditor"
    assert Account.objects.get(user__username="ivy").role == Role.AUDITOR
    assert bearer(ivy["access"]).post("/api/dicom/send/", {}, format="json").status_code == 403


def test_a_wrong_password_is_refused_and_audited(ldap_on: None, anon_client: Any) -> None:
    response = login(anon_client, "omar", "not-his-password")
    assert response.status_code == 401
    entry = TransferLog.objects.get(action=Action.LOGIN)
    assert (entry.username, entry.status) == ("omar", Status.FAILED)


def test_a_directory_user_in_no_mapped_group_is_refused(ldap_on: None, anon_client: Any) -> None:
    assert login(anon_client, "nobody", "nobody-directory-pw").status_code == 401
    assert not User.objects.filter(username="nobody").exists()


def test_local_accounts_still_sign_in(ldap_on: None, anon_client: Any, admin_user: User) -> None:
    from conftest import PASSWORD

    assert login(anon_client, "root", PASSWORD).status_code == 200


def test_a_directory_user_named_like_a_local_account_does_not_take_it_over(
    ldap_on: None, anon_client: Any, make_user: Any
) -> None:
    from conftest import PASSWORD

    local = make_user("Dana", first_name="Local")  # matched case-insensitively by django-auth-ldap
    response = login(anon_client, "dana", "dana-directory-pw")
    assert response.status_code == 401
    local.refresh_from_db()
    assert (local.is_staff, local.first_name) == (False, "Local")
    assert local.check_password(PASSWORD)
    assert not Account.objects.filter(user=local, role=Role.ADMIN).exists()
    assert login(anon_client, "Dana", PASSWORD).status_code == 200  # its owner still signs in locally


def test_a_directory_account_keeps_mapping_onto_its_user(ldap_on: None, anon_client: Any) -> None:
    first = login(anon_client, "omar", "omar-directory-pw").json()["user"]
    again = login(anon_client, "omar", "omar-directory-pw").json()["user"]
    assert first["id"] == again["id"]


def test_an_admin_cannot_reset_the_password_of_a_directory_user(
    ldap_on: None, anon_client: Any, client_admin: Any
) -> None:
    omar_id = login(anon_client, "omar", "omar-directory-pw").json()["user"]["id"]
    response = client_admin.post(
        f"/api/auth/users/{omar_id}/reset_password/", {"password": "Temp-pass-9182x"}, format="json"
    )
    assert response.status_code == 409
    assert "directory" in response.json()["password"][0]
    omar = User.objects.get(pk=omar_id)
    assert not omar.has_usable_password()
    assert login(anon_client, "omar", "omar-directory-pw").status_code == 200
