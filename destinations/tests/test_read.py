from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from destinations.models import Destination

pytestmark = pytest.mark.django_db


def url(destination_id: int) -> str:
    return f"/api/destinations/{destination_id}/"


def test_a_user_reads_an_enabled_destination(client_user: APIClient, destination: Destination) -> None:
    response = client_user.get(url(destination.pk))
    assert response.status_code == 200
    assert response.json()["id"] == destination.pk
    assert response.json()["created_by"] is None


def test_a_disabled_destination_does_not_exist_for_a_user(
    client_user: APIClient, disabled_destination: Destination
) -> None:
    response = client_user.get(url(disabled_destination.pk))
    assert response.status_code == 404
    assert "detail" in response.json()


def test_an_admin_reads_a_disabled_destination(client_admin: APIClient, disabled_destination: Destination) -> None:
    response = client_admin.get(url(disabled_destination.pk))
    assert response.status_code == 200
    assert response.json()["enabled"] is False


def test_an_unknown_destination_is_404(client_admin: APIClient, db: None) -> None:
    assert client_admin.get(url(999999)).status_code == 404


def test_it_needs_a_token(anon_client: APIClient, destination: Destination) -> None:
    assert anon_client.get(url(destination.pk)).status_code == 401
