"""The destination form's DICOM TLS fields in Debian's headless Chromium (Playwright): an admin
chooses the CA, client certificate and key files, saves, reopens the form (the key is never shown,
only that one is stored), saves again without a new key (it is kept), and "Test connection"
succeeds against a ``storescp +tls`` that requires the client certificate. axe-core finds no
serious or critical violation on the dialog."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from playwright.sync_api import Response, expect

from destinations.models import Destination
from testsupport.peers import LOOPBACK
from testsupport.tls_peers import Pki, require, tls_storescp
from webui.tests.test_web_e2e import Screen, browser, screen  # noqa: F401  (fixtures)
from webui.tests.test_web_shift import AXE, axe_violations

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]


def test_an_admin_sets_up_mutual_tls_in_the_form_and_the_connection_test_passes(
    screen: Screen,  # noqa: F811
    admin_user: User,
    tmp_path: Path,
) -> None:
    require("openssl", "storescp", "echoscu")
    if not AXE.exists():
        message = f"{AXE} is missing: `make axe` (part of `make test`) fetches axe-core with npm."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip("LOUD SKIP: " + message)
    pki = Pki(tmp_path / "pki")
    ca = pki.ca("hospital")
    server, client = pki.issue("pacs", ca), pki.issue("us", ca, san="DNS:us.example")
    page = screen.page
    page.add_init_script(path=str(AXE))
    answers: list[str] = []

    def keep(response: Response) -> None:
        if "/api/destinations" in response.url and response.request.method != "OPTIONS":
            answers.append(response.text())

    page.on("response", keep)
    with tls_storescp(tmp_path / "rx", server, trusted=ca, require_client_certificate=True) as scp:
        screen.login("root")
        page.get_by_role("link", name="Destinations").click()
        page.get_by_role("button", name="New destination").click()
        dialog = page.locator("#destination-dialog")
        dialog.get_by_label("Name").fill("TLS PACS")
        dialog.get_by_label("AE title").fill(scp.ae_title)
        dialog.get_by_label("Host").fill(LOOPBACK)
        dialog.get_by_label("Port").fill(str(scp.port))
        expect(dialog.get_by_label("CA certificate(s) to trust (PEM)")).to_be_hidden()
        dialog.get_by_label("Connect with TLS").check()
        dialog.get_by_label("Profile").select_option("bcp195")
        dialog.get_by_label("CA certificate(s) to trust (PEM)").set_input_files(str(ca.certificate))
        dialog.get_by_label("Client certificate, for mutual TLS (PEM)").set_input_files(str(client.certificate))
        dialog.get_by_label("Client key (PEM)").set_input_files(str(client.key))
        found: dict[str, list[dict[str, Any]]] = {"new TLS destination": axe_violations(page)}
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()

        row = page.locator("#destinations tbody tr", has_text="TLS PACS")
        expect(row).to_contain_text("TLS, client certificate")
        created = Destination.objects.get(name="TLS PACS")
        assert (created.tls_profile, created.tls_client_certificate.strip()) == (
            "bcp195",
            client.certificate_pem.strip(),
        )
        key_file = Path(settings.TLS_DIR) / str(created.pk) / "client.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700

        # Reopened: what is stored is said, the key is not shown (the API never answers it).
        row.get_by_role("button", name="Edit TLS PACS").click()
        expect(dialog.get_by_label("Connect with TLS")).to_be_checked()
        expect(dialog.get_by_label("Profile")).to_have_value("bcp195")
        expect(dialog.locator("#d-tls-ca-stored")).to_contain_text("Stored: 1 certificate")
        expect(dialog.locator("#d-tls-cert-stored")).to_contain_text("Stored: a client certificate")
        expect(dialog.locator("#d-tls-key-stored")).to_have_text("A client key is stored (it is never shown).")
        found["edit TLS destination"] = axe_violations(page)
        # Saved again without choosing a key file: the stored key is kept.
        dialog.get_by_label("Description", exact=True).fill("Reading room, over TLS")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(row).to_contain_text("Reading room, over TLS")
        expect(row).to_contain_text("TLS, client certificate")
        assert key_file.read_text().strip() and key_file.is_file()

        row.get_by_role("button", name="Test connection to TLS PACS").click()
        expect(row.locator(".echo-result")).to_contain_text("Success", timeout=30_000)
        screen.shot("destination-tls")
    assert found == {"new TLS destination": [], "edit TLS destination": []}
    assert answers, "the page read the destinations from the API"
    key_body = "".join(client.key_pem.strip().splitlines()[1:-1])[:64]
    for answer in answers:
        assert "PRIVATE KEY" not in answer and key_body not in answer.replace("\\n", "")
    assert "PRIVATE KEY" not in page.content()
