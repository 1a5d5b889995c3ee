from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.audit import audit_record
from dicom_api.models import Action, Status

pytestmark = pytest.mark.django_db

URL = "/api/destinations/"


def test_it_lists_enabled_destinations_for_a_user_with_every_field(
    client_user: APIClient, destination: Destination, disabled_destination: Destination, admin_user: AbstractUser
) -> None:
    destination.created_by = admin_user
    destination.save()
    response = client_user.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body] == [destination.pk]
    item = body[0]
    assert set(item) == {
        "id",
        "name",
        "ae_title",
        "host",
        "port",
        "description",
        "enabled",
        "created_by",
        "created_at",
        "updated_at",
        "verify",
        "tls",
        "transfer_syntax_policy",
        "lossy_allowed",
        "accepted_transfer_syntaxes",
        "deidentification",
        "state",
        "active_transfers",
    }
    assert item["deidentification"] is None
    assert item["active_transfers"] == 0
    assert item["created_by"] == {"id": admin_user.pk, "username": "root"}
    assert item["verify"] == "none"
    assert item["tls"] is None  # plain TCP
    assert item["state"] == {"reachable": True, "since": None, "last_error": ""}
    assert (item["name"], item["ae_title"], item["host"], item["port"], item["enabled"]) == (
        "PACS",
        "PACS",
        "10.0.0.5",
        104,
        True,
    )
    assert item["created_at"].endswith(("Z", "+00:00"))


def test_it_lists_every_destination_for_an_admin_sorted_by_name(
    client_admin: APIClient, make_destination: Callable[..., Destination]
) -> None:
    b = make_destination("b-node", enabled=False)
    a = make_destination("A-node")
    response = client_admin.get(URL)
    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [a.pk, b.pk]
    assert response.json()[1]["enabled"] is False


def test_an_admin_can_filter_on_enabled(
    client_admin: APIClient, destination: Destination, disabled_destination: Destination
) -> None:
    response = client_admin.get(URL, {"enabled": "false"})
    assert [item["id"] for item in response.json()] == [disabled_destination.pk]


def test_it_needs_a_token(anon_client: APIClient, destination: Destination) -> None:
    response = anon_client.get(URL)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_it_does_not_query_per_row(
    client_admin: APIClient,
    make_destination: Callable[..., Destination],
    admin_user: AbstractUser,
    django_assert_max_num_queries: Callable[..., object],
) -> None:
    for index in range(10):
        make_destination(f"node {index}", created_by=admin_user)
    with django_assert_max_num_queries(3):  # type: ignore[operator]
        assert len(client_admin.get(URL).json()) == 10


def test_it_counts_the_transfers_a_delete_would_fail(
    client_admin: APIClient, destination: Destination, make_destination: Callable[..., Destination], user: AbstractUser
) -> None:
    other = make_destination("Other")
    for status in (Status.PENDING, Status.SENDING, Status.SENDING, Status.SUCCESS, Status.FAILED, Status.CANCELLED):
        audit_record(action=Action.SEND, status=status, user=user, destination=destination)
    audit_record(action=Action.SEND, status=Status.PENDING, user=user, destination=other)
    # A connection test is never "active", whatever its status says.
    audit_record(action=Action.TEST_CONNECTION, status=Status.PENDING, user=user, destination=destination)
    body = {item["name"]: item for item in client_admin.get(URL).json()}
    assert body["PACS"]["active_transfers"] == 3
    assert body["Other"]["active_transfers"] == 1
    assert client_admin.get(f"{URL}{destination.pk}/").json()["active_transfers"] == 3
    # A change answers the count too (the saved object carries no annotation).
    changed = client_admin.patch(f"{URL}{destination.pk}/", {"enabled": False}, format="json")
    assert changed.json()["active_transfers"] == 3
