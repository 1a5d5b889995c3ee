from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client

from conftest import PASSWORD
from destinations.admin import DestinationForm
from destinations.models import Destination

pytestmark = pytest.mark.django_db

VALID = {"name": "PACS", "ae_title": " PACS ", "host": "10.0.0.5", "port": 104, "description": "", "enabled": True}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ae_title", "-h"),
        ("ae_title", "A\\B"),
        ("host", "@/etc/passwd"),
        ("host", "bad_host"),
        ("port", 0),
        ("port", 65536),
    ],
)
def test_the_admin_form_applies_the_same_validation(field: str, value: Any) -> None:
    form = DestinationForm(data={**VALID, field: value})
    assert not form.is_valid()
    assert field in form.errors


def test_the_admin_form_strips_the_ae_title_and_the_admin_becomes_the_creator(admin_user: AbstractUser) -> None:
    client = Client()
    assert client.login(username="root", password=PASSWORD)
    response = client.post("/admin/destinations/destination/add/", VALID)
    assert response.status_code == 302
    destination = Destination.objects.get()
    assert destination.ae_title == "PACS"
    assert destination.created_by == admin_user
