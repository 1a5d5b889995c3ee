"""DICOMweb destinations in the API: the fields of each kind, the secret write-only, the CA."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from destinations.models import Destination

pytestmark = pytest.mark.django_db

URL = "/api/destinations/"
WEB = {
    "name": "Cloud",
    "kind": "dicomweb",
    "url": "https://dicom.example.org/dicom-web/",
    "auth": {"type": "basic", "username": "sender", "password": "s3cret-pw"},
}


def create(client: APIClient, **changes: Any) -> Any:
    return client.post(URL, {**WEB, **changes}, format="json")


def test_an_admin_creates_a_dicomweb_destination_and_the_password_is_never_answered(
    client_admin: APIClient, client_user: APIClient
) -> None:
    response = create(client_admin)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "dicomweb"
    assert body["url"] == "https://dicom.example.org/dicom-web"  # no trailing slash
    assert (body["ae_title"], body["host"], body["port"]) == ("", "dicom.example.org", 443)
    assert body["auth"] == {"type": "basic", "username": "sender", "has_secret": True}
    assert body["ca_fingerprints"] == []
    stored = Destination.objects.get()
    assert (stored.auth_type, stored.auth_username, stored.auth_secret) == ("basic", "sender", "s3cret-pw")
    for client in (client_admin, client_user):
        for path in (URL, f"{URL}{stored.pk}/"):
            answer = client.get(path)
            assert answer.status_code == 200
            assert b"s3cret-pw" not in answer.content


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"url": ""}, "url", "required for a DICOMweb destination"),
        ({"url": "ftp://dicom.example.org/x"}, "url", "https://"),
        ({"url": "https://sender:pw@dicom.example.org/dicom-web"}, "url", "user name or password"),
        ({"url": "https://dicom.example.org/dicom-web?x=1"}, "url", "query"),
        ({"url": "https://-h/dicom-web"}, "url", "host"),
        ({"url": "https://dicom.example.org:99999/"}, "url", "port"),
        ({"ae_title": "PACS"}, "ae_title", "no AE title"),
        ({"host": "other.example.org"}, "host", "its URL's (dicom.example.org)"),
        ({"port": 8042}, "port", "its URL's (443)"),
        ({"auth": {"type": "basic", "username": "sender"}}, "auth", "needs a `password`"),
        ({"auth": {"type": "basic", "password": "x"}}, "auth", "needs a `username`"),
        ({"auth": {"type": "bearer"}}, "auth", "needs a `token`"),
        ({"auth": {"type": "bearer", "password": "x"}}, "auth", "takes a `token`"),
        ({"auth": {"type": "none", "token": "x"}}, "auth", "takes no username"),
        ({"auth": {"type": "kerberos"}}, "auth", "not a valid choice"),
        ({"url": "http://dicom.example.org/dicom-web"}, "auth", "use an https:// URL"),
        ({"verify": "c-find"}, "verify", "`qido-rs`"),
        ({"ca_certificate": "not a certificate"}, "ca_certificate", "PEM"),
        (
            {"ca_certificate": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"},
            "ca_certificate",
            "private key",
        ),
    ],
)
def test_each_problem_is_named_by_its_field(
    client_admin: APIClient, changes: dict[str, Any], field: str, words: str
) -> None:
    response = create(client_admin, **changes)
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body, body
    assert words in str(body[field]), body
    assert not Destination.objects.exists()


def test_a_dicom_destination_takes_no_dicomweb_field(client_admin: APIClient) -> None:
    response = client_admin.post(
        URL,
        {"name": "PACS", "ae_title": "PACS", "host": "10.0.0.5", "url": "https://x.org", "verify": "qido-rs"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"url", "verify"}


def test_plain_http_with_credentials_is_allowed_to_a_loopback_address(client_admin: APIClient) -> None:
    response = create(client_admin, url="http://127.0.0.1:8042/dicom-web")
    assert response.status_code == 201, response.content
    assert (response.json()["host"], response.json()["port"]) == ("127.0.0.1", 8042)


def test_an_update_keeps_the_stored_secret_unless_a_new_one_is_given(client_admin: APIClient) -> None:
    body = create(client_admin).json()
    path = f"{URL}{body['id']}/"
    assert client_admin.patch(path, {"description": "cloud archive"}, format="json").status_code == 200
    assert client_admin.patch(path, {"auth": {"username": "other"}}, format="json").status_code == 200
    assert Destination.objects.get().auth_secret == "s3cret-pw"
    # The answer sent back whole (a PUT of what GET said, without the secret) changes nothing.
    again = client_admin.get(path).json()
    put = client_admin.put(path, {k: v for k, v in again.items() if k != "ca_fingerprints"}, format="json")
    assert put.status_code == 200, put.content
    assert Destination.objects.get().auth_secret == "s3cret-pw"
    assert client_admin.patch(path, {"auth": {"password": "new-one"}}, format="json").status_code == 200
    assert Destination.objects.get().auth_secret == "new-one"
    changed = client_admin.patch(path, {"auth": {"type": "bearer"}}, format="json")
    assert changed.status_code == 400  # a new kind of secret needs its own
    none = client_admin.patch(path, {"auth": {"type": "none"}}, format="json")
    assert none.json()["auth"] == {"type": "none", "username": "", "has_secret": False}
    assert Destination.objects.get().auth_secret == ""


def test_turning_it_into_a_dicom_destination_needs_an_address_and_drops_the_secret(client_admin: APIClient) -> None:
    body = create(client_admin, verify="qido-rs").json()
    path = f"{URL}{body['id']}/"
    refused = client_admin.patch(path, {"kind": "dicom"}, format="json")
    assert refused.status_code == 400
    assert set(refused.json()) == {"ae_title", "host"}
    turned = client_admin.patch(path, {"kind": "dicom", "ae_title": "PACS", "host": "10.0.0.5"}, format="json")
    assert turned.status_code == 200, turned.content
    stored = Destination.objects.get()
    assert (stored.kind, stored.url, stored.auth_type, stored.auth_secret, stored.port) == (
        "dicom",
        "",
        "none",
        "",
        104,
    )
    assert stored.verify == "none"


def test_a_ca_certificate_is_write_only_and_answered_by_fingerprint(client_admin: APIClient, tmp_path: Path) -> None:
    key, pem = tmp_path / "ca.key", tmp_path / "ca.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(pem),
            "-days",
            "2",
            "-subj",
            "/CN=Hospital CA",
        ],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER"], capture_output=True, check=True)
    import hashlib

    response = create(client_admin, ca_certificate=pem.read_text())
    assert response.status_code == 201, response.content
    assert "ca_certificate" not in response.json()
    assert response.json()["ca_fingerprints"] == [hashlib.sha256(der.stdout).hexdigest()]
    over_http = create(client_admin, name="Other", url="http://127.0.0.1/dicom-web", ca_certificate=pem.read_text())
    assert over_http.status_code == 400
    assert "https://" in str(over_http.json()["ca_certificate"])
    path = f"{URL}{response.json()['id']}/"
    removed = client_admin.patch(path, {"ca_certificate": ""}, format="json")
    assert removed.json()["ca_fingerprints"] == []


def test_only_admins_create_one(client_user: APIClient) -> None:
    assert create(client_user).status_code == 403


def test_dicom_tls_is_not_for_a_dicomweb_destination(client_admin: APIClient) -> None:
    response = create(
        client_admin, tls={"ca_certificates": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"tls"}
    assert not Destination.objects.exists()
