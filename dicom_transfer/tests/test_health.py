from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from destinations.models import Destination
from dicom_api.models import WorkerHeartbeat
from dicomnet import programs

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
    # What the system runs: dcmsend for transfers, storescu for DICOM TLS ones, echoscu for tests.
    assert set(body) == {"status", "database", "dcmsend", "echoscu", "storescu", "worker"}
    assert body["storescu"] == {"ok": True, "version": body["storescu"]["version"], "needed": False}
    assert body["storescu"]["version"].startswith("3.")
    assert body["dcmsend"]["ok"] is True
    assert body["dcmsend"]["version"].startswith("3.")
    assert body["echoscu"]["ok"] is True
    assert body["echoscu"]["version"].startswith("3.")
    assert body["worker"]["ok"] is True
    assert body["worker"]["last_heartbeat_age_s"] < 5


@pytest.mark.parametrize(
    ("setting", "part", "other"), [("DCMSEND_PATH", "dcmsend", "echoscu"), ("ECHOSCU_PATH", "echoscu", "dcmsend")]
)
def test_health_is_503_when_a_dcmtk_program_it_runs_is_missing(
    client: Client, settings: Any, setting: str, part: str, other: str
) -> None:
    beat()
    setattr(settings, setting, f"/nonexistent/{part}")
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body[part] == {"ok": False, "error": "not found or not runnable; install DCMTK or set its path"}
    assert body[other]["ok"] is True


@pytest.fixture
def no_storescu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH holding dcmsend and echoscu but no storescu."""
    for program in ("dcmsend", "echoscu"):
        found = shutil.which(program)
        assert found is not None
        (tmp_path / program).symlink_to(found)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(programs, "_version_cache", {})  # versions are cached by program name
    assert shutil.which("storescu") is None


def test_health_does_not_need_storescu_without_a_tls_destination(client: Client, no_storescu: None) -> None:
    Destination.objects.create(name="Plain", ae_title="PLAIN", host="127.0.0.1", port=104)
    Destination.objects.create(
        name="Off", ae_title="OFF", host="127.0.0.1", port=104, tls_profile="bcp195", enabled=False
    )
    beat()
    response = client.get("/api/health/")
    assert response.status_code == 200, response.json()
    assert response.json()["storescu"] == {
        "ok": True,
        "needed": False,
        "error": "not found or not runnable; install DCMTK or set its path (needed only for DICOM TLS "
        "destinations; none is enabled)",
    }


def test_health_is_503_without_storescu_while_a_tls_destination_is_enabled(client: Client, no_storescu: None) -> None:
    Destination.objects.create(name="Secure", ae_title="SECURE", host="127.0.0.1", port=2762, tls_profile="bcp195-nd")
    beat()
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["storescu"] == {
        "ok": False,
        "needed": True,
        "error": "not found or not runnable; install DCMTK or set its path",
    }
    assert body["dcmsend"]["ok"] is True


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
