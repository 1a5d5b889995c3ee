"""``/metrics`` with real processes: two web servers (gunicorn, as scripts/run.sh starts it) and two
``db_worker`` sharing one database and DATA_DIR, real sends with DCMTK to a real storescp and to
a peer that rejects us. Whichever web process answers the scrape, the figures are the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from prometheus_client.parser import text_string_to_metric_families

from conftest import access_token_for
from destinations.models import Destination
from dicom_api.models import TransferLog
from testsupport.dicom_data import generate_series, import_files
from testsupport.peers import LOOPBACK, free_port, stop, storescp, wait_for_port
from testsupport.rejecting_scp import rejecting_scp
from testsupport.workers import ROOT, Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TOKEN = "live-metrics-token"
PATIENT = "LIVE^METRICS^PATIENT"


@pytest.fixture
def servers(tmp_path: Path, transactional_db: None) -> Iterator[tuple[list[str], Workers]]:
    """Two web servers (one gunicorn each, so the test knows which answered) and two workers."""
    cache.clear()  # settled totals another test left (the cache table is not flushed)
    pool = Workers(tmp_path, METRICS_TOKEN=TOKEN, SECRET_KEY=settings.SECRET_KEY)
    pool.environment.pop("DEBUG")  # as in production: the answer of a web process with DEBUG off
    pool.environment["ALLOWED_HOSTS"] = "127.0.0.1"
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    webs, bases = [], []
    for n in range(2):
        port = free_port()
        log = (tmp_path / f"web-{n}.log").open("wb")
        command = [gunicorn, "dicom_transfer.wsgi:application", "--config", "python:dicom_transfer.gunicorn_conf"]
        webs.append(
            subprocess.Popen(
                [*command, "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                cwd=ROOT,
                env=pool.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        bases.append(f"http://127.0.0.1:{port}")
        wait_for_port(port)
    pool.start(2)
    try:
        yield bases, pool
    finally:
        pool.stop()
        for web in webs:
            stop(web, timeout=10)
        for n in range(2):
            assert PATIENT not in (tmp_path / f"web-{n}.log").read_text(errors="replace")


def call(url: str, *, token: str | None, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data)  # noqa: S310 - our test server
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our test server
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def scrape(base: str) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    status, body = call(base + "/metrics", token=TOKEN)
    assert status == 200, body
    text = body.decode()
    return text, {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_real_sends_the_same_from_either_web_process(
    tmp_path: Path, user: User, servers: tuple[list[str], Workers]
) -> None:
    bases, _ = servers
    first = generate_series(tmp_path / "a", 5, patient_name=PATIENT)
    second = generate_series(tmp_path / "b", 3, patient_name=PATIENT, study_instance_uid=first.study_instance_uid)
    session = import_files(user, first.files + second.files)
    sizes = sum(instance.size_bytes for instance in session.instances.all())
    with storescp(tmp_path / "scp") as scp, rejecting_scp("STRICT", known_calling_ae="FRIEND") as refusing_port:
        good = Destination.objects.create(name="Ward PACS", ae_title=scp.ae_title, host=LOOPBACK, port=scp.port)
        bad = Destination.objects.create(name="Strict PACS", ae_title="STRICT", host=LOOPBACK, port=refusing_port)
        status, body = call(
            bases[0] + "/api/dicom/send/",
            token=access_token_for(user),
            body={
                "import_id": str(session.pk),
                "series_instance_uids": [first.series_instance_uid, second.series_instance_uid],
                "destination_ids": [good.pk, bad.pk],
            },
        )
        assert status == 202, body
        ids = [transfer["id"] for transfer in json.loads(body)["transfers"]]
        deadline = time.monotonic() + 90
        while TransferLog.objects.filter(pk__in=ids, status__in=("pending", "sending")).exists():
            assert time.monotonic() < deadline, list(TransferLog.objects.filter(pk__in=ids).values("status"))
            time.sleep(0.2)
        assert set(scp.received()) == set(first.sop_instance_uids) | set(second.sop_instance_uids)

    def count(samples: dict[Any, float], name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    scraped = [scrape(base) for base in (*bases, *bases)]
    for text, samples in scraped:
        assert count(samples, "dicom_transfer_transfers_total", destination="Ward PACS", outcome="success") == 2
        assert count(samples, "dicom_transfer_transfers_total", destination="Ward PACS", outcome="failed") == 0
        assert count(samples, "dicom_transfer_transfers_total", destination="Strict PACS", outcome="failed") == 2
        assert count(samples, "dicom_transfer_transfers_total", destination="Strict PACS", outcome="success") == 0
        assert count(samples, "dicom_transfer_instances_sent_total", destination="Ward PACS") == 8
        assert count(samples, "dicom_transfer_instances_failed_total", destination="Strict PACS") == 8
        assert count(samples, "dicom_transfer_sent_bytes_total", destination="Ward PACS") == sizes
        assert count(samples, "dicom_transfer_send_duration_seconds_count", destination="Ward PACS") == 2
        assert count(samples, "dicom_transfer_queue_wait_seconds_count", destination="Strict PACS") == 2
        assert count(samples, "dicom_transfer_queue_pending", destination="Ward PACS") == 0
        assert count(samples, "dicom_transfer_workers_alive") == 2
        assert count(samples, "dicom_transfer_imports_total", outcome="success") == 1
        assert count(samples, "dicom_transfer_imported_bytes_total") == sizes
        # The send was answered by the first web process; its request is counted in every scrape.
        send = (("method", "POST"), ("status", "202"), ("view", "dicom-send"))
        assert samples[("dicom_transfer_http_request_duration_seconds_count", send)] == 1
        for secret in (PATIENT, first.patient_id, first.series_instance_uid, first.sop_instance_uids[0]):
            assert secret not in text
    # Both web processes wrote their own request counts (prometheus-client's multiprocess files).
    files = sorted(path.name for path in (tmp_path / "metrics").glob("*/histogram_*.db"))
    assert len(files) == 2, files
    for path in (tmp_path / "metrics").glob("*/*.db"):
        assert path.stat().st_mode & 0o777 == 0o600


def test_metrics_of_a_real_server_refuse_a_missing_or_wrong_token(servers: tuple[list[str], Workers]) -> None:
    bases, _ = servers
    assert call(bases[1] + "/metrics", token=None)[0] == 401
    assert call(bases[1] + "/metrics", token="nope")[0] == 401
    assert call(bases[0] + "/metrics", token=TOKEN)[0] == 200


def test_metrics_are_404_on_a_server_without_a_token(tmp_path: Path, transactional_db: None) -> None:
    environment = {**Workers(tmp_path).environment, "SECRET_KEY": settings.SECRET_KEY}
    environment.pop("METRICS_TOKEN", None)
    port = free_port()
    web = subprocess.Popen(
        [
            *(str(Path(sys.executable).parent / "gunicorn"), "dicom_transfer.wsgi:application"),
            *("--config", "python:dicom_transfer.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "1"),
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        assert call(f"http://127.0.0.1:{port}/metrics", token=TOKEN)[0] == 404
    finally:
        stop(web, timeout=10)
    assert os.path.isdir(tmp_path / "metrics")
