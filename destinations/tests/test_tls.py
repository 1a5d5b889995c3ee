"""A destination's DICOM TLS settings through the API: PEMs checked with a clear 400, the client key
stored 0600 under DATA_DIR and never answered, logged or kept in the database."""

from __future__ import annotations

import logging
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import serializers as django_serializers
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import TransferLog
from testsupport.tls_peers import Identity, Pki, require

pytestmark = pytest.mark.django_db

URL = "/api/destinations/"
DAMAGED = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
VALID = {"name": "Remote PACS", "ae_title": "REMOTE", "host": "pacs.example.org", "port": 2762}


class Made:
    def __init__(self, directory: Path) -> None:
        require("openssl")
        pki = Pki(directory)
        self.ca = pki.ca("ours")
        self.client = pki.issue("client", self.ca, san="DNS:client.example")
        self.other = pki.issue("other", self.ca, san="DNS:other.example")
        self.expired = pki.issue("expired", self.ca, expired=True)
        self.soon = pki.issue("soon", self.ca, san="DNS:soon.example", days=5)
        encrypted = directory / "client-encrypted.key"
        subprocess.run(
            [
                "openssl",
                "pkey",
                "-in",
                str(self.client.key),
                "-aes256",
                "-passout",
                "pass:s3cret",
                "-out",
                str(encrypted),
            ],
            check=True,
            capture_output=True,
        )
        self.encrypted_key = encrypted.read_text()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    return Made(tmp_path_factory.mktemp("pki"))


def key_body(identity: Identity) -> str:
    """A line from the middle of the key: what must never appear anywhere but its file."""
    lines = identity.key_pem.splitlines()
    return lines[len(lines) // 2]


def tls(made: Made, **changes: Any) -> dict[str, Any]:
    return {
        "profile": "bcp195",
        "ca_certificates": made.ca.certificate_pem,
        "client_certificate": made.client.certificate_pem,
        "client_key": made.client.key_pem,
        **changes,
    }


def create(client: APIClient, made: Made, **changes: Any) -> Any:
    return client.post(URL, {**VALID, "tls": tls(made, **changes)}, format="json")


def test_an_admin_sets_up_mutual_tls_and_the_key_is_stored_0600_never_answered(
    client_admin: APIClient, client_user: APIClient, made: Made, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = create(client_admin, made)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tls"] == {
        "profile": "bcp195",
        "ca_certificates": made.ca.certificate_pem,
        "client_certificate": made.client.certificate_pem,
        "has_client_key": True,
        "warnings": [],
    }
    destination = Destination.objects.get()
    key_file = Path(settings.TLS_DIR) / str(destination.pk) / "client.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(settings.TLS_DIR).stat().st_mode) == 0o700
    assert key_body(made.client) in key_file.read_text()
    # Never in an answer (create, list, detail, update; an operator's too), a log, or the database.
    answers = [response.content]
    answers += [client_admin.get(URL).content, client_admin.get(f"{URL}{destination.pk}/").content]
    answers += [client_user.get(URL).content]
    answers += [client_admin.patch(f"{URL}{destination.pk}/", {"description": "x"}, format="json").content]
    secret = key_body(made.client).encode()
    assert all(secret not in answer for answer in answers)
    assert b"has_client_key" in answers[1]
    assert key_body(made.client) not in caplog.text
    rows = django_serializers.serialize("json", [*Destination.objects.all(), *TransferLog.objects.all()])
    assert key_body(made.client) not in rows


def test_without_a_client_certificate_there_is_no_key(client_admin: APIClient, made: Made) -> None:
    response = client_admin.post(URL, {**VALID, "tls": {"ca_certificates": made.ca.certificate_pem}}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["tls"]["has_client_key"] is False
    assert response.json()["tls"]["profile"] == "bcp195-nd"  # DCMTK's default


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"ca_certificates": "hello"}, "ca_certificates", "is not a PEM certificate"),
        ({"ca_certificates": DAMAGED}, "ca_certificates", "damaged"),
        ({"client_certificate": "not a cert"}, "client_certificate", "is not a PEM certificate"),
        ({"client_key": "not a key"}, "client_key", "is not a PEM private key"),
        ({"client_key": "CERT"}, "client_key", "is a certificate, not a private key"),
        ({"client_key": "OTHER"}, "client_key", "does not belong to the client certificate"),
        ({"client_certificate": "EXPIRED"}, "client_certificate", "expired on 2020-02-01"),
        ({"ca_certificates": "KEY"}, "ca_certificates", "is a private key, not a certificate"),
        ({"client_key": "ENCRYPTED"}, "client_key", "is encrypted: give its passphrase"),
        ({"client_key": "ENCRYPTED", "client_key_passphrase": "wrong"}, "client_key", "passphrase right"),
        ({"profile": "tls1.0"}, "profile", "not a valid choice"),
        ({"client_certificate": ""}, "client_certificate", "Give the certificate of the client key"),
    ],
)
def test_a_bad_pem_is_a_400_naming_the_field_and_the_problem(
    client_admin: APIClient, made: Made, changes: dict[str, str], field: str, words: str
) -> None:
    stand_ins = {
        "CERT": made.client.certificate_pem,
        "OTHER": made.other.key_pem,
        "EXPIRED": made.expired.certificate_pem,
        "KEY": made.client.key_pem,
        "ENCRYPTED": made.encrypted_key,
    }
    response = create(client_admin, made, **{k: stand_ins.get(v, v) for k, v in changes.items()})
    assert response.status_code == 400
    messages = response.json()["tls"][field]
    assert any(words in message for message in messages), messages
    assert not Destination.objects.exists()
    assert not any(Path(settings.TLS_DIR).glob("*/client.key"))


def test_an_encrypted_key_is_decrypted_and_stored_unencrypted(client_admin: APIClient, made: Made) -> None:
    response = create(client_admin, made, client_key=made.encrypted_key, client_key_passphrase="s3cret")
    assert response.status_code == 201, response.content
    stored = (Path(settings.TLS_DIR) / str(response.json()["id"]) / "client.key").read_text()
    assert stored.startswith("-----BEGIN PRIVATE KEY-----") and "ENCRYPTED" not in stored


def test_a_certificate_expiring_soon_is_accepted_with_a_warning(client_admin: APIClient, made: Made) -> None:
    response = create(client_admin, made, client_certificate=made.soon.certificate_pem, client_key=made.soon.key_pem)
    assert response.status_code == 201, response.content
    (warning,) = response.json()["tls"]["warnings"]
    assert "client certificate CN=soon expires on" in warning


def test_the_stored_key_is_kept_when_omitted_and_removed_with_mutual_tls(client_admin: APIClient, made: Made) -> None:
    destination_id = create(client_admin, made).json()["id"]
    key_file = Path(settings.TLS_DIR) / str(destination_id) / "client.key"
    url = f"{URL}{destination_id}/"
    kept = client_admin.patch(url, {"tls": tls(made, client_key=None) | {"profile": "bcp195-ex"}}, format="json")
    assert kept.status_code == 400  # null is no key: omit it to keep the stored one
    body = tls(made, profile="bcp195-ex")
    del body["client_key"]
    kept = client_admin.patch(url, {"tls": body}, format="json")
    assert kept.status_code == 200, kept.content
    assert kept.json()["tls"]["has_client_key"] is True and key_file.exists()
    # Another certificate without its key: the stored key does not match it.
    mismatch = client_admin.patch(
        url, {"tls": {**body, "client_certificate": made.other.certificate_pem}}, format="json"
    )
    assert mismatch.status_code == 400
    assert "does not belong" in mismatch.json()["tls"]["client_key"][0]
    plain_tls = client_admin.patch(url, {"tls": {**body, "client_certificate": ""}}, format="json")
    assert plain_tls.json()["tls"]["has_client_key"] is False and not key_file.exists()
    create_again = client_admin.patch(url, {"tls": tls(made)}, format="json")
    assert create_again.json()["tls"]["has_client_key"] is True
    off = client_admin.patch(url, {"tls": None}, format="json")
    assert off.status_code == 200 and off.json()["tls"] is None and not key_file.exists()
    Destination.objects.get(pk=destination_id).delete()
    assert not key_file.parent.exists()


def test_operators_may_not_set_tls(client_user: APIClient, made: Made) -> None:
    assert create(client_user, made).status_code == 403
    assert not Destination.objects.exists()
