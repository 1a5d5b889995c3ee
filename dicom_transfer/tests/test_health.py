from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dicom_api.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def beat(age_seconds: float = 0) -> None:
    WorkerHeartbeat.objects.create(
        worker_id="w1", hostname="h", pid=1, last_seen=timezone.now() - timedelta(seconds=age_seconds)
    )


def test_health_is_200_when_everything_works(client: Client) -> None:
    beat()
    response = client.get("/api/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["storescu"]["ok"] is True
    assert body["storescu"]["version"].startswith("3.")
    assert body["echoscu"]["ok"] is True
    assert body["worker"]["ok"] is True
    assert body["worker"]["last_heartbeat_age_s"] < 5


def test_health_is_503_when_storescu_is_missing(client: Client, settings: Any) -> None:
    beat()
    settings.STORESCU_PATH = "/nonexistent/storescu"
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["storescu"]["ok"] is False
    assert body["echoscu"]["ok"] is True


def test_health_is_503_without_a_live_worker(client: Client) -> None:
    response = client.get("/api/health/")
    assert response.status_code == 503
    assert response.json()["worker"]["ok"] is False
    beat(age_seconds=3600)
    response = client.get("/api/health/")
    assert response.status_code == 503
    assert response.json()["worker"]["last_heartbeat_age_s"] >= 3600


def test_schema_and_docs_are_served(client: Client) -> None:
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
