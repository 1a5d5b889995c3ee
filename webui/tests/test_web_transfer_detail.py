"""A series row of the Transfers card, opened: what it says of a success, in Chromium. A held-back
instance (de-identification) is not acknowledged, and a success has nothing to look up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from destinations.models import Destination
from dicom_api.models import Status
from dicom_api.tests.transfers_helpers import make_transfer
from webui.tests.test_web_e2e import Screen, browser, screen  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

HELD = "2 of 2 instances were held back and not sent to this destination (1.2.3.9: burned in); 0 were stored."


def test_an_opened_success_says_what_was_acknowledged(screen: Screen, user: User) -> None:  # noqa: F811
    page = screen.page
    research = Destination.objects.create(name="Research", ae_title="RESEARCH", host="127.0.0.1", port=104)
    common = {
        "destination": research,
        "instance_count": 2,
        "details": {"send_request": "a" * 32},
        "patient_name": "DOE^JANE",
        "completed_at": timezone.now(),
    }
    make_transfer(
        user, Status.SUCCESS, instances_sent=2, study_instance_uid="1.2.1", series_description="Chest", **common
    )
    make_transfer(
        user,
        Status.SUCCESS,
        instances_sent=0,
        study_instance_uid="1.2.2",
        series_description="Echo",
        error_message=HELD,
        **common,
    )
    screen.login("alice")
    groups = page.locator("#transfers tbody tr.group")
    expect(groups).to_have_count(2)
    for index in range(2):
        groups.nth(index).locator("button.toggle").click()
    series = page.locator("#transfers tbody tr.series")
    expect(series).to_have_count(2)
    for index in range(2):
        series.nth(index).locator("button.toggle").click()
    why = page.locator("#transfers tbody tr.why-row")
    expect(why).to_have_count(2)
    chest = why.filter(has_text="All 2 instances acknowledged.")
    expect(chest).to_have_count(1)
    echo = why.filter(has_text="held back")
    expect(echo).to_contain_text("0 of 2 instances acknowledged.")
    expect(echo).not_to_contain_text("All 2")
    # A success has nothing left to look up.
    expect(why.filter(has_text="Looking up")).to_have_count(0)


def test_a_transfer_waiting_for_its_next_attempt_says_so_before_it_is_opened(screen: Screen, user: User) -> None:  # noqa: F811
    page = screen.page
    pacs = Destination.objects.create(name="Night PACS", ae_title="NIGHT", host="127.0.0.1", port=104)
    make_transfer(
        user,
        Status.PENDING,
        destination=pacs,
        instance_count=3,
        patient_name="DOE^JANE",
        study_instance_uid="1.2.7",
        series_description="Knee",
        details={"send_request": "b" * 32},
        attempt=1,
        next_attempt_at=timezone.now() + timedelta(minutes=5),
        error_message="Nothing accepts connections at 127.0.0.1:104: is the PACS running? Trying again in 5 min.",
    )
    screen.login("alice")
    group = page.locator("#transfers tbody tr.group")
    expect(group.locator(".progress-text")).to_contain_text("0 of 1 series delivered, 1 waiting to try again")
    expect(group.locator(".progress-text")).not_to_contain_text("in progress")
    group.locator("button.toggle").click()
    series = page.locator("#transfers tbody tr.series")
    expect(series.locator(".next-attempt")).to_contain_text("next attempt 20")
    series.locator("button.toggle").click()
    why = page.locator("#transfers tbody tr.why-row")
    expect(why).to_contain_text("Nothing accepts connections at 127.0.0.1:104")
    expect(why).to_contain_text("Waiting: the next attempt is at 20")
    expect(why).to_contain_text("it resumes by itself.")
    expect(why).not_to_contain_text("Still being sent")
