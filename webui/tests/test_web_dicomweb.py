"""The destination form's DICOMweb kind, end to end in Chromium against a real Orthanc with its
DICOMweb plugin: created with a password, tested, edited without retyping it; the password is
never shown in the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from destinations.models import Destination
from dicom_api.tests.test_dicomweb_send import require_plugin
from testsupport.peers import orthanc
from webui.tests import test_web_e2e
from webui.tests.test_web_e2e import Screen

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

browser = test_web_e2e.browser
screen = test_web_e2e.screen

PASSWORD = "orthanc-stow-password"


def test_an_admin_adds_a_dicomweb_destination_tests_it_and_edits_it_without_the_password(
    screen: Screen, admin_user: User, tmp_path: Path
) -> None:
    require_plugin()
    page = screen.page
    with orthanc(tmp_path / "orthanc", dicomweb=True, users={"stow": PASSWORD}) as pacs:
        screen.login("root")
        page.get_by_role("link", name="Destinations").click()
        page.get_by_role("button", name="New destination").click()
        dialog = page.locator("#destination-dialog")
        dialog.get_by_label("Name", exact=True).fill("Cloud")
        dialog.get_by_label("Kind").select_option("dicomweb")
        expect(dialog.get_by_label("AE title")).to_be_hidden()
        dialog.get_by_label("DICOMweb URL").fill(pacs.dicomweb_url)
        dialog.get_by_label("Authentication").select_option("basic")
        dialog.get_by_label("Account").fill("stow")
        dialog.get_by_role("button", name="Save").click()
        # No password: the API's message lands under the authentication field.
        expect(dialog.locator("#d-auth-error")).to_contain_text("needs a `password`")
        dialog.get_by_label("Password").fill(PASSWORD)
        screen.shot("destination-dicomweb-form")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        row = page.locator("#destinations tbody tr", has_text="Cloud")
        expect(row).to_contain_text(pacs.dicomweb_url)
        row.get_by_role("button", name="Test connection to Cloud").click()
        expect(row.locator(".echo-result")).to_contain_text("accepts our credentials")
        screen.shot("destination-dicomweb")

        row.get_by_role("button", name="Edit Cloud").click()
        expect(dialog.get_by_label("Password")).to_have_value("")
        expect(dialog.locator("#d-secret-hint")).to_contain_text("leave empty to keep it")
        dialog.get_by_label("Description", exact=True).fill("Cloud archive")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(row).to_contain_text("Cloud archive")
        row.get_by_role("button", name="Test connection to Cloud").click()
        expect(row.locator(".echo-result")).to_contain_text("accepts our credentials")
        assert PASSWORD not in page.content()
    stored = Destination.objects.get()
    assert (stored.kind, stored.auth_secret, stored.description) == ("dicomweb", PASSWORD, "Cloud archive")
