"""The page's parts of issue 16 in Chromium: an admin makes a destination de-identify, an operator
sends a series "as" another patient; what the server received is checked in the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from destinations.models import Destination
from dicom_api.models import Action, TransferLog
from testsupport.dicom_data import generate_series
from webui.tests.test_web_e2e import Screen, browser, screen  # noqa: F401 - fixtures
from webui.tests.test_web_shift import AXE, axe_violations


@pytest.fixture(autouse=True)
def _axe(screen: Screen) -> None:  # noqa: F811 - the fixture imported above
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make axe` (part of `make test`) fetches axe-core with npm.")
    screen.page.add_init_script(path=str(AXE))


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]


def test_an_admin_sets_de_identification_on_a_destination(screen: Screen, admin_user: User) -> None:  # noqa: F811
    page = screen.page
    Destination.objects.create(name="Research", ae_title="RESEARCH", host="127.0.0.1", port=104)
    screen.login("root")
    page.get_by_role("link", name="Destinations").click()
    page.get_by_role("button", name="Edit Research").click()
    dialog = page.locator("#destination-dialog")
    dialog.get_by_label("De-identify what is sent here").check()
    dialog.get_by_label("Keep the time between studies (dates shifted)").check()
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    destination = Destination.objects.get()
    assert destination.deidentification == {"profile": "basic", "options": ["retain_longitudinal_modified_dates"]}
    # Opened again, the form shows it; unticked, it is gone.
    page.get_by_role("button", name="Edit Research").click()
    expect(dialog.get_by_label("Keep the time between studies (dates shifted)")).to_be_checked()
    dialog.get_by_label("De-identify what is sent here").uncheck()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    destination.refresh_from_db()
    assert destination.deidentification is None


def _chest_ct_chosen(screen: Screen, tmp_path: Path) -> Page:  # noqa: F811
    """alice, signed in, has uploaded a 2-instance Chest CT of OURS^ANNA and chosen it."""
    page = screen.page
    folder = tmp_path / "upload"
    generate_series(folder / "ct", 2, patient_name="OURS^ANNA", patient_id="OURS-1", description="Chest CT")
    screen.login("alice")
    page.locator("#pick-folder").set_input_files(str(folder))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_contain_text("Imported 2 instances")
    page.get_by_label("#1 Chest CT").check()
    return page


def test_an_operator_sends_a_series_as_another_patient(screen: Screen, user: User, tmp_path: Path) -> None:  # noqa: F811
    target = Destination.objects.create(name="Other hospital", ae_title="OTHER", host="127.0.0.1", port=104)
    page = _chest_ct_chosen(screen, tmp_path)
    page.get_by_role("checkbox", name="Other hospital").check()
    page.get_by_text("Send as another patient…").click()
    # Prefilled with today's values of the selected patient.
    expect(page.get_by_label("Patient ID", exact=True)).to_have_value("OURS-1")
    expect(page.get_by_label("Patient name (Family^Given)")).to_have_value("OURS^ANNA")
    page.get_by_label("Patient ID", exact=True).fill("THEIRS-778")
    page.get_by_label("Issuer of patient ID").fill("ST-ELSEWHERE")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Send (1 transfer)").click()
    expect(page.locator("#transfers tbody tr.group")).to_have_count(1)
    log = TransferLog.objects.get(action=Action.SEND)
    assert log.destination_id == target.pk
    # Only what the user changed is sent as the patient's new values.
    assert log.details["send_as"]["values"] == {"patient_id": "THEIRS-778", "issuer_of_patient_id": "ST-ELSEWHERE"}
    assert log.details["send_as"]["previous"]["patient_id"] == "OURS-1"


def test_a_destination_deleted_while_chosen_is_named_and_the_list_refreshed(
    screen: Screen,  # noqa: F811
    user: User,
    tmp_path: Path,
) -> None:
    gone = Destination.objects.create(name="Old hospital", ae_title="OLD", host="127.0.0.1", port=104)
    Destination.objects.create(name="Other hospital", ae_title="OTHER", host="127.0.0.1", port=105)
    page = _chest_ct_chosen(screen, tmp_path)
    page.get_by_role("checkbox", name="Old hospital").check()
    gone.delete()  # by an administrator, meanwhile
    page.get_by_role("button", name="Send (1 transfer)").click()
    expect(page.locator("#send-error")).to_have_text(
        "Old hospital can no longer be sent to (an administrator removed or disabled it): "
        "the list of destinations is up to date now. Choose again and send."
    )
    expect(page.get_by_role("checkbox", name="Old hospital")).to_have_count(0)
    expect(page.get_by_role("checkbox", name="Other hospital")).not_to_be_checked()
    assert not TransferLog.objects.filter(action=Action.SEND).exists()
    # Choosing again sends, and the message goes.
    page.get_by_role("checkbox", name="Other hospital").check()
    page.get_by_role("button", name="Send (1 transfer)").click()
    expect(page.locator("#transfers tbody tr.group")).to_have_count(1)
    expect(page.locator("#send-error")).to_have_text("")
