"""The dashboard in Chromium: an admin sees its charts and figures (and axe-core finds nothing
serious); an operator has no dashboard."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.utils import timezone
from playwright.sync_api import expect

from conftest import client_for
from dicom_api.models import Status, TransferLog
from dicom_api.tests.transfers_helpers import make_transfer
from webui.tests import test_web_e2e
from webui.tests.test_web_e2e import Screen
from webui.tests.test_web_shift import AXE, axe_violations

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

browser = test_web_e2e.browser
screen = test_web_e2e.screen


def seed(owner: AbstractUser) -> None:
    def done(name: str, status: Status, hours_ago: float, seconds: float) -> None:
        log = make_transfer(
            owner, status, destination_name=name, send_seconds=seconds, instances_sent=10, byte_count=5_000_000
        )  # type: ignore[arg-type]
        TransferLog.objects.filter(pk=log.pk).update(completed_at=timezone.now() - timedelta(hours=hours_ago))

    for n in range(6):
        done("Ward PACS", Status.SUCCESS, n + 0.5, 10.0 + n)
    done("Ward PACS", Status.FAILED, 3.5, 79.0)
    done("Archive", Status.SUCCESS, 50, 120.0)  # in the 7 days only
    make_transfer(owner, Status.PENDING, destination_name="Archive")  # type: ignore[arg-type]


def _labels_fit(selector: str, page: Any, *, pattern: str, count: int) -> None:
    """The axis labels of a chart are written the page's way and lie wholly inside its picture."""
    labels = page.locator(f"{selector} g.column text")
    expect(labels).to_have_count(count)
    box = page.locator(f"{selector} svg").bounding_box()
    for index in range(count):
        label = labels.nth(index)
        assert re.fullmatch(pattern, label.text_content() or ""), label.text_content()
        inside = label.bounding_box()
        assert box["x"] - 0.5 <= inside["x"] and inside["x"] + inside["width"] <= box["x"] + box["width"] + 0.5


def test_an_admin_sees_the_dashboard_with_charts(screen: Screen, admin_user: AbstractUser) -> None:
    if not AXE.exists():
        message = f"{AXE} is missing: `make axe` (part of `make test`) fetches axe-core with npm."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    seed(admin_user)
    page = screen.page
    page.add_init_script(path=str(AXE))
    screen.login("root")
    page.get_by_role("link", name="Dashboard").click()
    view = page.locator("#view-dashboard")
    expect(view.get_by_role("heading", name="Dashboard")).to_be_visible()
    summary = page.locator("#dashboard-summary")
    expect(summary).to_contain_text("In the last 24 hours: 6 transfers succeeded, 1 failed; 70 instances (35 MB)")
    expect(summary).to_contain_text("Now: 1 waiting, 0 sending.")
    # Four charts, each an SVG image with its text alternative, with bars drawn.
    charts = view.locator("svg.chart-svg[role=img]")
    expect(charts).to_have_count(4)
    expect(page.locator("#chart-timeline g.column")).to_have_count(25)
    _labels_fit("#chart-timeline", page, pattern=r"\d\d:\d\d", count=7)  # every 4th hour, the current one last
    outcomes = page.locator("#chart-outcomes svg")
    expect(outcomes).to_have_attribute("aria-label", "Archive: 0 succeeded, 0 failed; Ward PACS: 6 succeeded, 1 failed")
    times = page.locator("#chart-times svg")
    expect(times).to_have_attribute("aria-label", "Archive: median —, p95 —; Ward PACS: median 13 s, p95 60 s")
    widths = page.locator("#chart-outcomes rect.bar-ok").evaluate_all(
        "bars => bars.map(b => Number(b.getAttribute('width')))"
    )
    assert widths[0] == 0 and widths[1] > 100
    ward = page.locator("#dashboard-table tbody tr", has_text="Ward PACS")
    expect(ward.locator("td")).to_have_text(["6", "1", "70", "35 MB", "13 s", "60 s", "0", "0", "—"])
    archive = page.locator("#dashboard-table tbody tr", has_text="Archive")
    expect(archive.locator("td").nth(6)).to_have_text("1")
    screen.shot("dashboard")
    assert axe_violations(page) == []

    page.get_by_role("button", name="Last 7 days").click()
    expect(page.get_by_role("button", name="Last 7 days")).to_have_attribute("aria-pressed", "true")
    expect(summary).to_contain_text("In the last 7 days: 7 transfers succeeded, 1 failed")
    expect(page.locator("#chart-timeline g.column")).to_have_count(8)
    _labels_fit("#chart-timeline", page, pattern=r"\d\d-\d\d", count=8)
    expect(archive.locator("td").nth(0)).to_have_text("1")
    assert axe_violations(page) == []


def test_an_operator_has_no_dashboard(screen: Screen, user: AbstractUser) -> None:
    page = screen.page
    screen.login("alice")
    expect(page.get_by_role("link", name="Audit log")).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_be_hidden()
    page.goto(screen.base_url + "/#dashboard")
    expect(page.locator("#view-send")).to_be_visible()
    expect(page.locator("#view-dashboard")).to_be_hidden()
    expect(page).to_have_url(screen.base_url + "/#send")  # the address says what is shown
    assert client_for(user).get("/api/dicom/dashboard/").status_code == 403
