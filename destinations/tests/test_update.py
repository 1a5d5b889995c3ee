from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from destinations.models import Destination

pytestmark = pytest.mark.django_db


def url(destination_id: int) -> str:
    return f"/api/destinations/{destination_id}/"


FULL = {"name": "New PACS", "ae_title": "NEWPACS", "host": "192.168.1.20", "port": 4242, "description": "moved"}


def test_an_admin_replaces_a_destination_with_put(
    client_admin: APIClient, destination: Destination, user: AbstractUser
) -> None:
    destination.created_by = user
    destination.save()
    before = destination.updated_at
    response = client_admin.put(url(destination.pk), {**FULL, "enabled": False}, format="json")
    assert response.status_code == 200
    destination.refresh_from_db()
    assert (destination.name, destination.ae_title, destination.host, destination.port) == (
        "New PACS",
        "NEWPACS",
        "192.168.1.20",
        4242,
    )
    assert (destination.description, destination.enabled) == ("moved", False)
    assert destination.updated_at > before
    assert destination.created_by == user  # the creator stays
    assert response.json()["name"] == "New PACS"


def test_an_admin_changes_one_field_with_patch(client_admin: APIClient, destination: Destination) -> None:
    response = client_admin.patch(url(destination.pk), {"enabled": False}, format="json")
    assert response.status_code == 200
    destination.refresh_from_db()
    assert destination.enabled is False
    assert (destination.name, destination.ae_title, destination.host, destination.port) == (
        "PACS",
        "PACS",
        "10.0.0.5",
        104,
    )


def test_an_admin_may_patch_a_disabled_destination_back_on(
    client_admin: APIClient, disabled_destination: Destination
) -> None:
    assert client_admin.patch(url(disabled_destination.pk), {"enabled": True}, format="json").status_code == 200
    disabled_destination.refresh_from_db()
    assert disabled_destination.enabled is True


def test_put_needs_every_required_field(client_admin: APIClient, destination: Destination) -> None:
    response = client_admin.put(url(destination.pk), {"name": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"ae_title", "host"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ae_title", "-h"),
        ("ae_title", "A" * 17),
        ("host", "+tls"),
        ("host", "@/etc/passwd"),
        ("port", 0),
        ("port", 65536),
        ("name", ""),
    ],
)
def test_invalid_values_are_rejected_and_nothing_changes(
    client_admin: APIClient, destination: Destination, field: str, value: Any
) -> None:
    response = client_admin.patch(url(destination.pk), {field: value}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {field}
    destination.refresh_from_db()
    assert (destination.name, destination.ae_title, destination.host, destination.port) == (
        "PACS",
        "PACS",
        "10.0.0.5",
        104,
    )


def test_renaming_to_a_name_in_use_is_rejected(
    client_admin: APIClient, destination: Destination, disabled_destination: Destination
) -> None:
    response = client_admin.patch(url(destination.pk), {"name": "old pacs"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["A destination named 'old pacs' already exists."]}


def test_a_destination_may_keep_or_recase_its_own_name(client_admin: APIClient, destination: Destination) -> None:
    assert client_admin.put(url(destination.pk), {**FULL, "name": "PACS"}, format="json").status_code == 200
    assert client_admin.patch(url(destination.pk), {"name": "Pacs"}, format="json").status_code == 200
    destination.refresh_from_db()
    assert destination.name == "Pacs"


def test_created_by_can_not_be_changed(client_admin: APIClient, destination: Destination, user: AbstractUser) -> None:
    assert client_admin.patch(url(destination.pk), {"created_by": user.pk}, format="json").status_code == 200
    destination.refresh_from_db()
    assert destination.created_by is None


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_user_may_not_update(client_user: APIClient, destination: Destination, method: str) -> None:
    response = getattr(client_user, method)(url(destination.pk), {**FULL}, format="json")
    assert response.status_code == 403
    destination.refresh_from_db()
    assert destination.name == "PACS"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_it_needs_a_token(anon_client: APIClient, destination: Destination, method: str) -> None:
    assert getattr(anon_client, method)(url(destination.pk), {**FULL}, format="json").status_code == 401
    destination.refresh_from_db()
    assert destination.name == "PACS"


def test_an_unknown_destination_is_404(client_admin: APIClient, db: None) -> None:
    assert client_admin.patch(url(999999), {"enabled": False}, format="json").status_code == 404
