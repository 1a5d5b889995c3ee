"""A DICOMweb destination through the API as an admin makes it, against a real Orthanc with its
DICOMweb plugin: "Test connection" by QIDO-RS with messages a person can act on, HTTPS with an
uploaded CA, and the password or token never in an API answer, the audit trail or a log file."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dicom_api.models import TransferLog
from dicom_api.tests import test_transfers_worker as worker_tests
from dicom_api.tests.test_dicomweb_send import USER, require_plugin
from dicom_api.tests.test_transfers_worker import send, wait_for
from testsupport.dicom_data import generate_series, import_files
from testsupport.peers import certificates, closed_port, orthanc
from testsupport.proxy import tls_proxy
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

workers = worker_tests.workers


def create(client: APIClient, **fields: Any) -> Any:
    response = client.post("/api/destinations/", {"name": "Cloud", "kind": "dicomweb", **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_connection(client: APIClient, destination_id: int) -> dict[str, Any]:
    response = client.post(f"/api/destinations/{destination_id}/test_connection/")
    assert response.status_code == 200, response.content
    return dict(response.json())


test_connection.__test__ = False  # type: ignore[attr-defined]


def test_the_connection_test_says_what_to_check(tmp_path: Path, client_admin: APIClient) -> None:
    require_plugin()
    with orthanc(tmp_path / "orthanc", dicomweb=True, users={USER: "right"}) as pacs:
        good = create(
            client_admin, url=pacs.dicomweb_url, auth={"type": "basic", "username": USER, "password": "right"}
        )
        ok = test_connection(client_admin, good["id"])
        client_admin.patch(f"/api/destinations/{good['id']}/", {"auth": {"password": "wrong"}}, format="json")
        refused = test_connection(client_admin, good["id"])
        root = create(
            client_admin,
            name="Not DICOMweb",
            url=pacs.base + "/app",
            auth={"type": "basic", "username": USER, "password": "right"},
        )
        not_dicomweb = test_connection(client_admin, root["id"])
    down = create(client_admin, name="Down", url=f"http://127.0.0.1:{closed_port()}/dicom-web")
    nobody = test_connection(client_admin, down["id"])
    assert (ok["success"], ok["category"]) == (True, "ok")
    assert "answers DICOMweb (QIDO-RS) and accepts our credentials" in ok["message"]
    assert (refused["success"], refused["category"]) == (False, "rejected")
    assert refused["message"].startswith("The server refused our credentials (401)")
    assert (not_dicomweb["success"], not_dicomweb["category"]) == (False, "unsupported")
    assert "check the destination's URL" in not_dicomweb["message"]
    assert (nobody["success"], nobody["category"]) == (False, "refused")
    assert nobody["message"].startswith("Nothing accepts connections at http://127.0.0.1:")
    entry = TransferLog.objects.get(pk=refused["log_id"])
    assert (entry.action, entry.status, entry.destination_host) == ("test_connection", "failed", "127.0.0.1")


def test_https_with_the_uploaded_ca_and_not_without_it(tmp_path: Path, client_admin: APIClient) -> None:
    require_plugin()
    ca, certificate, key = certificates(tmp_path / "tls")
    with (
        orthanc(tmp_path / "orthanc", dicomweb=True, users={USER: "right"}) as pacs,
        tls_proxy(pacs.http_port, certificate=certificate, key=key) as proxy,
    ):
        url = f"{proxy.url}/dicom-web"
        body = create(client_admin, url=url, auth={"type": "basic", "username": USER, "password": "right"})
        untrusted = test_connection(client_admin, body["id"])
        pem = ca.read_text()
        response = client_admin.patch(f"/api/destinations/{body['id']}/", {"ca_certificate": pem}, format="json")
        trusted = test_connection(client_admin, body["id"])
    assert (untrusted["success"], untrusted["category"]) == (False, "tls")
    assert "certificate of https://127.0.0.1:" in untrusted["message"]
    assert "upload the CA certificate" in untrusted["message"]
    assert response.status_code == 200
    answer = response.json()
    assert "ca_certificate" not in answer
    assert len(answer["ca_fingerprints"]) == 1 and len(answer["ca_fingerprints"][0]) == 64
    assert "BEGIN CERTIFICATE" not in json.dumps(answer)
    assert trusted["success"], trusted["message"]


def test_the_password_is_never_in_an_answer_the_audit_trail_or_a_log(
    tmp_path: Path, user: User, client_user: APIClient, client_admin: APIClient, workers: Callable[..., Workers]
) -> None:
    require_plugin()
    password = "pw-" + secrets.token_urlsafe(16)
    token = "tk-" + secrets.token_urlsafe(16)
    series = generate_series(tmp_path / "a", 3)
    session = import_files(user, series.files)
    answers: list[bytes] = []
    with orthanc(tmp_path / "orthanc", dicomweb=True, users={USER: password}) as pacs:
        created = client_admin.post(
            "/api/destinations/",
            {
                "name": "Cloud",
                "kind": "dicomweb",
                "url": pacs.dicomweb_url,
                "auth": {"type": "basic", "username": USER, "password": password},
            },
            format="json",
        )
        assert created.status_code == 201
        answers.append(created.content)
        destination_id = created.json()["id"]
        assert created.json()["auth"] == {"type": "basic", "username": USER, "has_secret": True}
        for client in (client_admin, client_user):
            answers += [
                client.get("/api/destinations/").content,
                client.get(f"/api/destinations/{destination_id}/").content,
            ]
        answers.append(client_admin.post(f"/api/destinations/{destination_id}/test_connection/").content)
        workers(1)
        from destinations.models import Destination

        (log_id,) = send(client_user, session, [series.series_instance_uid], [Destination.objects.get()])
        (log,) = wait_for([log_id], {"success", "failed"})
        assert log.status == "success", log.error_message
        # A wrong password too: its failure and its audit entry don't name the one we tried.
        wrong = client_admin.patch(
            f"/api/destinations/{destination_id}/", {"auth": {"password": password + "x"}}, format="json"
        )
        answers += [wrong.content, client_admin.post(f"/api/destinations/{destination_id}/test_connection/").content]
        bearer = client_admin.patch(
            f"/api/destinations/{destination_id}/", {"auth": {"type": "bearer", "token": token}}, format="json"
        )
        assert bearer.json()["auth"] == {"type": "bearer", "username": "", "has_secret": True}
        answers += [bearer.content, client_admin.post(f"/api/destinations/{destination_id}/test_connection/").content]
    for client in (client_admin, client_user):
        answers += [
            client.get("/api/dicom/logs/?page_size=500").content,
            b"".join(client.get("/api/dicom/logs/?format=csv").streaming_content),  # type: ignore[arg-type]
            client.get(f"/api/dicom/status/?ids={log_id}").content,
            client.get(f"/api/dicom/logs/{log_id}/").content,
        ]
    audit = json.dumps(
        [[str(value) for value in row] for row in TransferLog.objects.values_list()], default=str
    ).encode()
    # The workers' output and log (their DATA_DIR is tmp_path), and this process's own log file.
    files = [path for path in tmp_path.rglob("*.log") if "orthanc" not in path.parts]
    files.append(Path(settings.LOGGING["handlers"]["file"]["filename"]))
    logs = b"".join(path.read_bytes() for path in files)
    assert logs, "no log file was read"
    for secret in (password, token):
        for text in (*answers, audit, logs):
            assert secret.encode() not in text
