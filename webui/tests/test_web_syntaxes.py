"""The page shows what each destination accepts (issue 15): an admin tests the connection of a
storescp that accepts only implicit VR little endian (+xi) and of one that accepts everything
(+xa), sees the transfer syntaxes each accepts, and sets a destination's transfer-syntax policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from destinations.models import Destination
from dicom_api.audit import audit_record
from dicom_api.models import Action, Status
from testsupport.peers import LOOPBACK, storescp
from webui.tests import test_web_e2e
from webui.tests.test_web_e2e import Screen

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

browser = test_web_e2e.browser
screen = test_web_e2e.screen


def test_an_admin_sees_what_each_destination_accepts_and_sets_the_policy(
    screen: Screen, admin_user: User, tmp_path: Path
) -> None:
    page = screen.page
    with (
        storescp(tmp_path / "xi", "IMPLICIT", extra_args=["+xi"]) as implicit,
        storescp(tmp_path / "xa", "ANYTHING", extra_args=["+xa"]) as anything,
    ):
        Destination.objects.create(name="Implicit only", ae_title="IMPLICIT", host=LOOPBACK, port=implicit.port)
        Destination.objects.create(name="Accepts all", ae_title="ANYTHING", host=LOOPBACK, port=anything.port)
        screen.login("root")
        page.get_by_role("link", name="Destinations").click()
        only = page.locator("#destinations tbody tr", has_text="Implicit only")
        every = page.locator("#destinations tbody tr", has_text="Accepts all")
        expect(only.locator(".accepted-syntaxes")).to_contain_text("not probed yet")
        expect(only.locator(".policy")).to_have_text("Sent: As stored (converted only when not accepted)")
        for row, name in ((only, "Implicit only"), (every, "Accepts all")):
            row.get_by_role("button", name=f"Test connection to {name}").click()
            expect(row.locator(".echo-result")).to_contain_text("Success")
            row.locator(".accepted-syntaxes summary").click()
        expect(only.locator(".accepted-syntaxes summary")).to_contain_text("Accepted transfer syntaxes (probed ")
        implicit_groups = only.locator(".accepted-syntaxes li")
        expect(implicit_groups).to_have_count(1)  # every SOP class alike
        expect(implicit_groups.locator(".syntaxes")).to_have_text("Implicit VR Little Endian")
        expect(implicit_groups).to_contain_text("CT Image Storage")
        expect(every.locator(".accepted-syntaxes li .syntaxes").first).to_contain_text(
            "JPEG 2000 Image Compression (Lossless Only)"
        )
        expect(every.locator(".accepted-syntaxes li .syntaxes").first).to_contain_text(
            "JPEG-LS Lossless Image Compression"
        )
        screen.shot("destinations-accepted-syntaxes")

        # Reloaded, the page shows what the probes recorded.
        page.reload()
        page.get_by_role("link", name="Destinations").click()
        only.locator(".accepted-syntaxes summary").click()
        expect(only.locator(".accepted-syntaxes li .syntaxes")).to_have_text("Implicit VR Little Endian")

        every.get_by_role("button", name="Edit Accepts all").click()
        dialog = page.locator("#destination-dialog")
        dialog.get_by_label("Transfer syntax").select_option(label="JPEG-LS lossless")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(every.locator(".policy")).to_have_text("Sent: JPEG-LS lossless")  # which it accepts
        # A preferred syntax the destination did not accept at its probe: the list says so.
        only.get_by_role("button", name="Edit Implicit only").click()
        dialog.get_by_label("Transfer syntax").select_option(label="JPEG 2000 lossless")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(only.locator(".policy")).to_have_text(
            "Sent: JPEG 2000 lossless — which its last probe did not accept: instances go in a syntax it accepts"
        )
    assert Destination.objects.get(name="Accepts all").transfer_syntax_policy == "1.2.840.10008.1.2.4.80"
    assert Destination.objects.get(name="Implicit only").transfer_syntax_policy == "1.2.840.10008.1.2.4.90"

    # The change is in the audit log, before and after, by the admin who made it.
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").select_option("destination_update")
    page.get_by_role("button", name="Apply").click()
    log_rows = page.locator("#log tbody tr")
    expect(log_rows).to_have_count(2)
    changed = log_rows.filter(has_text="Accepts all")
    expect(changed).to_contain_text("Destination changed")
    changed.get_by_role("button", name=re.compile("Details")).click()
    dialog = page.locator("#log-dialog")
    expect(dialog).to_contain_text(
        "transfer syntax policy: As stored (converted only when not accepted) → JPEG-LS lossless"
    )
    expect(dialog).to_contain_text("root")


def test_the_audit_entry_of_a_transcoded_send_says_what_went_in_which_syntax(screen: Screen, admin_user: User) -> None:
    """What the worker recorded (``details.transcoded``, dicom_api/tests/test_transcoding.py), shown."""
    audit_record(
        action=Action.SEND,
        status=Status.SUCCESS,
        user=admin_user,
        series_instance_uid="1.2.3.4",
        series_description="Knee",
        instance_count=3,
        details={
            "attempts": [],
            "transcoded": [
                {"from": "1.2.840.10008.1.2.4.91", "to": "1.2.840.10008.1.2", "instances": 2},
                {"from": "1.2.840.10008.1.2.4.70", "to": "1.2.840.10008.1.2", "instances": 1},
            ],
        },
    )
    page = screen.page
    screen.login("root")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").select_option("send")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("#log tbody tr")
    expect(rows).to_have_count(1)  # the filtered table (until it comes, the sign-in is the first row)
    expect(rows.first).to_contain_text("Knee")
    rows.first.get_by_role("button", name=re.compile("Details")).click()
    dialog = page.locator("#log-dialog")
    expect(dialog).to_contain_text("2 instances: JPEG 2000 (lossy) → Implicit VR Little Endian")
    expect(dialog).to_contain_text("1 instance: JPEG Lossless SV1 → Implicit VR Little Endian")


def test_a_dicomweb_destination_is_not_said_to_await_a_probe(screen: Screen, admin_user: User) -> None:
    Destination.objects.create(
        name="Cloud", kind="dicomweb", url="https://127.0.0.1:9/dicom-web", port=9, host=LOOPBACK
    )
    page = screen.page
    screen.login("root")
    page.get_by_role("link", name="Destinations").click()
    row = page.locator("#destinations tbody tr", has_text="Cloud")
    expect(row.locator(".accepted-syntaxes")).to_have_text(
        "Transfer syntaxes: DICOMweb negotiates none; each instance goes as the policy says."
    )
