"""Step 2 of the page in Chromium: the facts that identify the patient, thumbnails, collapsing,
the filter and bulk selection, the keyboard, and axe-core on what it shows."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pydicom
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, expect

from testsupport.dicom_data import generate_series
from webui.tests import test_web_e2e as e2e
from webui.tests.test_web_shift import AXE, axe_violations

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

browser = e2e.browser
screen = e2e.screen
Screen = e2e.Screen


def stamp(files: list[Path], **attributes: str) -> None:
    for path in files:
        dataset = pydicom.dcmread(path)
        for keyword, value in attributes.items():
            setattr(dataset, keyword, value)
        dataset.save_as(path)


def upload_fixture(folder: Path) -> list[Path]:
    """Alice: one study of a CT, an MR and a structured report; Bob: one CT."""
    ct = generate_series(folder / "ct", 3, patient_name="TREE^ALICE", patient_id="PID-A", description="Chest CT")
    mr = generate_series(
        folder / "mr",
        2,
        patient_name="TREE^ALICE",
        patient_id="PID-A",
        study_instance_uid=ct.study_instance_uid,
        modality="MR",
        description="Head MR",
        template="MR_small.dcm",
        series_number=2,
    )
    sr = generate_series(
        folder / "sr",
        1,
        patient_name="TREE^ALICE",
        patient_id="PID-A",
        study_instance_uid=ct.study_instance_uid,
        modality="SR",
        description="Report",
        template="test-SR.dcm",
        series_number=3,
    )
    alice = ct.files + mr.files + sr.files
    stamp(
        alice,
        StudyDescription="Thorax",  # one for the whole study (the SR's own would hold "ct")
        PatientBirthDate="19610412",
        PatientSex="F",
        StudyTime="143005",
        ReferringPhysicianName="HOUSE^GREGORY",
        InstitutionName="Princeton Plainsboro",
    )
    stamp(ct.files, SeriesNumber="1", BodyPartExamined="CHEST", SeriesDate="20240131", SeriesTime="1431")
    bob = generate_series(folder / "bob", 2, patient_name="TREE^BOB", patient_id="PID-B", description="Abdomen CT")
    stamp(bob.files, StudyDescription="Belly", PatientBirthDate="19500101", PatientSex="M", SeriesNumber="1")
    return alice + bob.files


def test_the_tree_identifies_collapses_filters_selects_and_shows_pictures(
    screen: Screen, user: User, tmp_path: Path
) -> None:
    files = upload_fixture(tmp_path / "upload")
    page = screen.page
    screen.login("alice")
    page.locator("#pick-files").set_input_files([str(p) for p in files])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_contain_text("Imported 8 instances")
    tree = page.locator("#tree tbody")
    expect(tree.locator("tr.level-series")).to_have_count(4)

    # Who the patient is, and the study's and series' facts.
    alice = tree.locator("tr.level-patient", has_text="TREE, ALICE")
    expect(alice).to_contain_text("ID PID-A · born 1961-04-12 · sex F (female)")
    expect(tree.locator("tr.level-patient", has_text="TREE, BOB")).to_contain_text("born 1950-01-01 · sex M (male)")
    study = tree.locator("tr.level-study").first
    expect(study).to_contain_text("referred by HOUSE, GREGORY · Princeton Plainsboro")
    expect(study.locator("td").nth(3)).to_contain_text("14:30")
    chest = tree.locator("tr.level-series", has_text="Chest CT")
    expect(chest).to_contain_text("CHEST")
    expect(chest.locator("td").nth(3)).to_have_text("2024-01-31 14:31")

    # Thumbnails: a picture for each image series (loaded, with pixels), an icon for the report.
    for name in ("#1 Chest CT", "#2 Head MR", "#1 Abdomen CT"):
        picture = tree.get_by_role("img", name=f"Picture of series {name}")
        expect(picture).to_be_visible()
        expect(picture).to_have_attribute("src", re.compile(r"^blob:"))
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
        assert picture.evaluate("img => img.naturalWidth") <= 128
    expect(tree.get_by_role("img", name=re.compile(r"^No image"))).to_have_count(1)
    expect(tree.locator("tr.level-series", has_text="Report").get_by_role("img")).to_have_accessible_name(
        re.compile(r"^No image")
    )
    screen.shot("tree")

    # Collapse Alice: her study and series go; Bob stays. The arrows skip what is hidden.
    alice_toggle = alice.get_by_role("button", name="Studies of patient TREE, ALICE")
    expect(alice_toggle).to_have_attribute("aria-expanded", "true")
    alice_toggle.click()
    expect(alice_toggle).to_have_attribute("aria-expanded", "false")
    expect(tree.locator("tr.level-series", has_text="Chest CT")).to_be_hidden()
    expect(tree.locator("tr.level-study").first).to_be_hidden()
    expect(tree.locator("tr.level-series", has_text="Abdomen CT")).to_be_visible()
    alice_box = page.get_by_label("Patient TREE, ALICE", exact=True)
    alice_box.focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Patient TREE, BOB", exact=True)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(alice_box).to_be_focused()
    page.keyboard.press("ArrowRight")  # opens Alice again
    expect(alice_toggle).to_have_attribute("aria-expanded", "true")
    expect(tree.locator("tr.level-series", has_text="Chest CT")).to_be_visible()
    page.keyboard.press("End")
    expect(page.get_by_label("#1 Abdomen CT")).to_be_focused()
    page.keyboard.press("Home")
    expect(alice_box).to_be_focused()
    # A study collapses on its own.
    study_toggle = study.get_by_role("button", name=re.compile(r"^Series of study"))
    study_toggle.click()
    expect(tree.locator("tr.level-series", has_text="Head MR")).to_be_hidden()
    expect(study).to_be_visible()
    page.get_by_role("button", name="Expand all").click()
    expect(tree.locator("tr.level-series", has_text="Head MR")).to_be_visible()
    page.get_by_role("button", name="Collapse all").click()
    expect(tree.locator("tr.level-series:visible")).to_have_count(0)
    expect(tree.locator("tr.level-patient:visible")).to_have_count(2)

    # The filter: every word must match; what it finds opens; "Select all shown" takes only that.
    page.get_by_label("Filter").fill("alice mr")
    expect(tree.locator("tr.level-series:visible")).to_have_count(1)
    expect(tree.locator("tr.level-series", has_text="Head MR")).to_be_visible()
    expect(tree.locator("tr.level-patient", has_text="TREE, BOB")).to_be_hidden()
    expect(page.locator("#tree-filter-summary")).to_have_text("1 of 4 series match “alice mr”.")
    page.get_by_role("button", name="Select all shown").click()
    expect(page.locator("#selection-summary")).to_have_text(re.compile(r"^1 series selected \(2 instances"))
    page.get_by_label("Filter").fill("1961-04-12")  # the birth date finds the patient's series
    expect(tree.locator("tr.level-series:visible")).to_have_count(3)
    page.get_by_label("Filter").fill("ct")
    page.get_by_role("button", name="Select all shown").click()
    expect(page.locator("#selection-summary")).to_have_text(re.compile(r"^3 series selected \(7 instances"))
    page.get_by_label("Filter").fill("")
    expect(tree.locator("tr.level-series:visible")).to_have_count(4)
    expect(page.locator("#tree-filter-summary")).to_be_hidden()
    page.get_by_role("button", name="Select all shown").click()
    expect(page.locator("#selection-summary")).to_contain_text("4 series selected")
    page.get_by_role("button", name="Clear selection").click()
    expect(page.locator("#selection-summary")).to_have_text("No series selected.")


def test_axe_finds_nothing_serious_in_the_tree(
    browser: Browser, live_server: object, user: User, tmp_path: Path
) -> None:
    if not AXE.exists():
        message = f"{AXE} is missing: `make axe` (part of `make test`) fetches axe-core with npm."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    files = upload_fixture(tmp_path / "upload")
    s = Screen(browser, live_server.url, tmp_path)  # type: ignore[attr-defined]
    try:
        page = s.page
        page.add_init_script(path=str(AXE))
        s.login("alice")
        page.locator("#pick-files").set_input_files([str(p) for p in files])
        page.get_by_role("button", name="Upload").click()
        tree = page.locator("#tree tbody")
        expect(tree.get_by_role("img", name="Picture of series #1 Chest CT")).to_be_visible()
        expect(tree.get_by_role("img", name=re.compile(r"^No image"))).to_be_visible()
        found = {"tree": axe_violations(page)}
        tree.locator("tr.level-patient", has_text="TREE, BOB").get_by_role("button").click()
        page.get_by_label("Filter").fill("chest")
        found["filtered and collapsed"] = axe_violations(page)
    finally:
        s.close()
    assert {name: v for name, v in found.items() if v} == {}
    assert s.errors == []
