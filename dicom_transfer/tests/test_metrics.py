"""``GET /metrics``: the token, and figures read from the rows of the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from dicom_api.models import Action, Status, TransferLog, WorkerHeartbeat
from dicom_api.tests.transfers_helpers import make_transfer

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"
PATIENT = {"patient_name": "METRICS^SECRET^PATIENT", "patient_id": "PID-METRICS-77"}
SERIES_UID = "1.2.826.0.1.3680043.8.498.777.1"


@pytest.fixture(autouse=True)
def _token(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN


def scrape(client: Client) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_are_404_when_no_token_is_configured(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x", "Bearer é"])
def test_metrics_refuse_a_missing_or_wrong_token(client: Client, header: str | None) -> None:
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"dicom_transfer" not in response.content


def test_metrics_count_transfers_instances_bytes_and_times_per_destination(client: Client, user: User) -> None:
    def finished(
        name: str, status: Status, sent: int, size: int, send: float | None, wait: float, hours_ago: float = 0
    ) -> TransferLog:
        """Finished ``hours_ago``: before the last hour, counted in the cached settled totals."""
        done = timezone.now() - timedelta(hours=hours_ago)
        return make_transfer(
            user,
            status,
            destination_name=name,
            instances_sent=sent,
            instances_failed=10 - sent,
            byte_count=size,
            send_seconds=send,
            queue_seconds=wait,
            started_at=done - timedelta(seconds=send or 0),
            completed_at=done,
            series_instance_uid=SERIES_UID,
            **PATIENT,
        )

    finished("PACS A", Status.SUCCESS, 10, 5_000, 3.0, 0.2, hours_ago=5)
    finished("PACS A", Status.SUCCESS, 10, 7_000, 40.0, 0.4)
    finished("PACS A", Status.FAILED, 4, 2_000, 700.0, 20.0, hours_ago=30)
    finished("Archive", Status.CANCELLED, 0, 0, None, 1.5)
    old = make_transfer(user, Status.PENDING, destination_name="Archive", **PATIENT)
    TransferLog.objects.filter(pk=old.pk).update(timestamp=timezone.now() - timedelta(seconds=120))
    make_transfer(user, Status.PENDING, destination_name="Archive")
    make_transfer(
        user,
        Status.SENDING,
        destination_name="PACS A",
        queue_seconds=0.05,
        started_at=timezone.now() - timedelta(hours=3),
    )
    TransferLog.objects.create(
        action=Action.IMPORT,
        status=Status.SUCCESS,
        instance_count=12,
        byte_count=6_000,
        user=user,
        completed_at=timezone.now() - timedelta(hours=4),
        **PATIENT,
    )
    TransferLog.objects.create(action=Action.IMPORT, status=Status.FAILED, user=user, completed_at=timezone.now())
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="a", hostname="h1", pid=1, last_seen=now)
    WorkerHeartbeat.objects.create(worker_id="b", hostname="h2", pid=2, last_seen=now)
    WorkerHeartbeat.objects.create(worker_id="c", hostname="h2", pid=3, last_seen=now - timedelta(hours=1))

    text, samples = scrape(client)

    transfers = "dicom_transfer_transfers_total"
    assert value(samples, transfers, destination="PACS A", outcome="success") == 2
    assert value(samples, transfers, destination="PACS A", outcome="failed") == 1
    assert value(samples, transfers, destination="PACS A", outcome="cancelled") == 0
    assert value(samples, transfers, destination="Archive", outcome="cancelled") == 1
    assert value(samples, "dicom_transfer_instances_sent_total", destination="PACS A") == 24
    assert value(samples, "dicom_transfer_instances_failed_total", destination="PACS A") == 6
    assert value(samples, "dicom_transfer_sent_bytes_total", destination="PACS A") == 14_000
    send = "dicom_transfer_send_duration_seconds"
    assert value(samples, send + "_bucket", destination="PACS A", le="1.0") == 0
    assert value(samples, send + "_bucket", destination="PACS A", le="5.0") == 1
    assert value(samples, send + "_bucket", destination="PACS A", le="60.0") == 2
    assert value(samples, send + "_bucket", destination="PACS A", le="600.0") == 2
    assert value(samples, send + "_bucket", destination="PACS A", le="1800.0") == 3
    assert value(samples, send + "_bucket", destination="PACS A", le="+Inf") == 3
    assert value(samples, send + "_count", destination="PACS A") == 3
    assert value(samples, send + "_sum", destination="PACS A") == pytest.approx(743.0)
    assert (send + "_count", (("destination", "Archive"),)) not in samples  # cancelled: no send time
    wait = "dicom_transfer_queue_wait_seconds"
    # The transfer still sending has waited too.
    assert value(samples, wait + "_bucket", destination="PACS A", le="0.1") == 1
    assert value(samples, wait + "_bucket", destination="PACS A", le="0.5") == 3
    assert value(samples, wait + "_count", destination="PACS A") == 4
    assert value(samples, wait + "_count", destination="Archive") == 1
    assert value(samples, "dicom_transfer_queue_pending", destination="Archive") == 2
    assert value(samples, "dicom_transfer_queue_pending", destination="PACS A") == 0
    assert value(samples, "dicom_transfer_transfers_sending", destination="PACS A") == 1
    assert 119 <= value(samples, "dicom_transfer_queue_oldest_pending_age_seconds", destination="Archive") < 180
    assert value(samples, "dicom_transfer_queue_oldest_pending_age_seconds", destination="PACS A") == 0
    assert value(samples, "dicom_transfer_workers_alive") == 2
    assert value(samples, "dicom_transfer_imports_total", outcome="success") == 1
    assert value(samples, "dicom_transfer_imports_total", outcome="failed") == 1
    assert value(samples, "dicom_transfer_imported_instances_total") == 12
    assert value(samples, "dicom_transfer_imported_bytes_total") == 6_000
    for secret in (*PATIENT.values(), SERIES_UID, user.username):
        assert secret not in text

    # Again, with the settled totals from the cache, and one more success since: counted once.
    finished("PACS A", Status.SUCCESS, 10, 1_000, 2.0, 0.3)
    _, again = scrape(client)
    assert value(again, transfers, destination="PACS A", outcome="success") == 3
    assert value(again, transfers, destination="PACS A", outcome="failed") == 1
    assert value(again, "dicom_transfer_sent_bytes_total", destination="PACS A") == 15_000
    assert value(again, send + "_count", destination="PACS A") == 4
    assert value(again, wait + "_count", destination="PACS A") == 5
    assert value(again, "dicom_transfer_imported_bytes_total") == 6_000


def test_a_configured_destination_with_nothing_queued_has_its_queue_at_zero(
    client: Client, make_destination: Any
) -> None:
    make_destination("Quiet PACS")
    _, samples = scrape(client)
    assert value(samples, "dicom_transfer_queue_pending", destination="Quiet PACS") == 0
    assert value(samples, "dicom_transfer_queue_oldest_pending_age_seconds", destination="Quiet PACS") == 0
    assert ("dicom_transfer_transfers_total", (("destination", "Quiet PACS"), ("outcome", "success"))) not in samples


def test_request_latency_is_labelled_by_the_views_url_name_never_the_path(client: Client) -> None:
    def count(samples: dict[Any, float], view: str, status: str) -> float:
        labels = (("method", "POST"), ("status", status), ("view", view))
        key = ("dicom_transfer_http_request_duration_seconds_count", labels)
        return samples.get(key, 0.0)

    _, before = scrape(client)
    for _ in range(3):
        assert client.post("/api/dicom/transfers/987654/cancel/").status_code == 401
    assert client.get("/api/no/such/route/").status_code == 404
    text, after = scrape(client)
    assert count(after, "dicom-transfer-cancel", "401") - count(before, "dicom-transfer-cancel", "401") == 3
    assert "987654" not in text
    assert "no/such" not in text
    assert 'view="unmatched"' in text


def test_the_request_counts_of_this_process_are_in_a_private_file(client: Client, settings: Any) -> None:
    import os

    client.get("/api/health/")
    files = list(settings.METRICS_DIR.glob(f"histogram_{os.getpid()}.db"))
    assert files
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert settings.METRICS_DIR.stat().st_mode & 0o777 == 0o700
