"""The page for a whole shift, end to end in headless Chromium (issue 20): transfers grouped by
study × destination with a failure among them, readable audit entries, a destination deleted
under a pending transfer, the server going away and coming back, and axe-core on every page
(sign-in, send, audit, destinations, users, password).

Real peers (storescp, a refusing pynetdicom SCP), a real ``db_worker``; ``WEBUI_SCREENSHOTS``
refreshes the README's screenshots as in ``test_web_e2e``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from destinations.models import Destination
from dicom_api.models import Action, Status, TransferLog
from dicom_api.services.transfers import transfers_create
from testsupport.dicom_data import GeneratedSeries, generate_series, import_files
from testsupport.fault_scp import fault_scp
from testsupport.peers import LOOPBACK, storescp
from testsupport.proxy import switchable_proxy
from testsupport.workers import Workers
from webui.tests import test_web_e2e as e2e

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

# The fixtures of the first end-to-end module (Chromium, a page that records script errors, workers).
browser = e2e.browser
screen = e2e.screen
workers = e2e.workers
Screen = e2e.Screen

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(os.environ.get("AXE_JS") or ROOT / "var/axe/node_modules/axe-core/axe.min.js")


def three_studies(folder: Path) -> dict[str, GeneratedSeries]:
    """Three patients, three studies, four series (the first study has two)."""
    localizer = generate_series(
        folder / "head1",
        2,
        patient_name="DOE^PETER",
        patient_id="PID-DOE",
        modality="MR",
        description="FAST LOCALIZER",
        series_number=1,
        study_description="MR HEAD",
        study_date="20261130",
    )
    axial = generate_series(
        folder / "head2",
        3,
        patient_name="DOE^PETER",
        patient_id="PID-DOE",
        modality="MR",
        description="T2 AXIAL",
        series_number=2,
        study_instance_uid=localizer.study_instance_uid,
        study_description="MR HEAD",
        study_date="20261130",
    )
    chest = generate_series(
        folder / "chest",
        2,
        patient_name="ROE^ANNA",
        patient_id="PID-ROE",
        description="CHEST",
        series_number=1,
        study_description="CT CHEST",
        study_date="20261129",
    )
    abdomen = generate_series(
        folder / "abdomen",
        2,
        patient_name="POE^EDGAR",
        patient_id="PID-POE",
        description="ABDOMEN",
        series_number=4,
        study_description="CT ABDOMEN",
        study_date="20261128",
    )
    return {"localizer": localizer, "axial": axial, "chest": chest, "abdomen": abdomen}


def group_row(page: Page, patient: str, destination: str) -> Any:
    return page.locator("#transfers tbody tr.group", has_text=patient).filter(has_text=destination)


def test_a_shift_of_sends_grouped_by_study_with_a_failure_and_its_audit(
    screen: Screen, user: User, tmp_path: Path, workers: Callable[[], Workers]
) -> None:
    series = three_studies(tmp_path / "upload")
    refused_sop = series["axial"].sop_instance_uids[1]
    page = screen.page
    with storescp(tmp_path / "scp", "MAINSCP") as scp, fault_scp("FAULTY", refuse={refused_sop}) as faulty:
        Destination.objects.create(name="Main PACS", ae_title=scp.ae_title, host=LOOPBACK, port=scp.port)
        Destination.objects.create(name="Faulty PACS", ae_title=faulty.ae_title, host=LOOPBACK, port=faulty.port)
        workers()
        # The user allowed notifications; what the page asks the browser to show is recorded.
        screen.context.grant_permissions(["notifications"], origin=screen.base_url)
        page.add_init_script(
            """(() => {
                const Real = window.Notification;
                window.shownNotifications = [];
                window.Notification = class extends Real {
                    constructor(title, options) {
                        super(title, options);
                        window.shownNotifications.push([title, options.body]);
                    }
                };
            })()"""
        )
        screen.login("alice")
        page.locator("#pick-folder").set_input_files(str(tmp_path / "upload"))
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#upload-result")).to_contain_text("Imported 9 instances")
        page.locator("#select-all").check()
        page.get_by_role("checkbox", name=re.compile(r"^Main PACS")).check()
        page.get_by_role("checkbox", name=re.compile(r"^Faulty PACS")).check()
        page.get_by_role("button", name="Send (8 transfers)").click()

        # 4 series × 2 destinations: 6 rows of study × destination, brought into view.
        groups = page.locator("#transfers tbody tr.group")
        expect(groups).to_have_count(6)
        expect(groups.first).to_be_in_viewport()
        failed_group = group_row(page, "DOE, PETER", "Faulty PACS")
        expect(failed_group.locator(".status")).to_have_text("failed", timeout=45_000)
        for patient in ("DOE, PETER", "ROE, ANNA", "POE, EDGAR"):
            expect(group_row(page, patient, "Main PACS").locator(".status")).to_have_text("success", timeout=45_000)
        for patient in ("ROE, ANNA", "POE, EDGAR"):
            expect(group_row(page, patient, "Faulty PACS").locator(".status")).to_have_text("success", timeout=45_000)
        request = page.locator("#transfers tr.request")
        expect(request).to_contain_text("3 of 3 studies delivered to Main PACS")
        expect(request).to_contain_text("2 of 3 studies delivered to Faulty PACS")
        expect(failed_group).to_contain_text("MR HEAD · 2026-11-30")
        expect(failed_group.locator(".progress-text")).to_have_text(
            "1 of 2 series delivered, 1 failed · 4 / 5 instances (80 %)"
        )
        expect(group_row(page, "DOE, PETER", "Main PACS").locator(".progress-text")).to_have_text(
            "2 of 2 series delivered · 5 / 5 instances (100 %)"
        )
        # The failure raised a notice.
        notice = page.locator("#transfer-notices .transfer-notice.failure")
        expect(notice).to_have_count(1)
        expect(notice).to_contain_text("Transfer failed: #2 T2 AXIAL (MR) of DOE, PETER to Faulty PACS")
        # And a browser notification, without the patient's name (it may show on a locked screen).
        assert page.evaluate("() => window.shownNotifications") == [
            ["DICOM Transfer: a transfer failed", "#2 T2 AXIAL (MR) to Faulty PACS"]
        ]

        # The keyboard: space opens the study, arrows move to its series, space opens one.
        toggle = failed_group.locator("button.toggle")
        toggle.focus()
        page.keyboard.press("Space")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        series_rows = page.locator("#transfers tbody tr.series")
        expect(series_rows).to_have_count(2)
        expect(series_rows.nth(0)).to_contain_text("#1 FAST LOCALIZER (MR)")
        expect(series_rows.nth(1)).to_contain_text("#2 T2 AXIAL (MR)")
        page.keyboard.press("ArrowDown")
        expect(series_rows.nth(0).locator("button.toggle")).to_be_focused()
        page.keyboard.press("ArrowDown")
        axial_toggle = series_rows.nth(1).locator("button.toggle")
        expect(axial_toggle).to_be_focused()
        page.keyboard.press("Space")
        expect(axial_toggle).to_have_attribute("aria-expanded", "true")
        why = page.locator("#transfers tbody tr.why-row")
        expect(why).to_contain_text("1 of 3 instances not delivered.")
        expect(why).to_contain_text(refused_sop)
        expect(why).to_contain_text("refused by the destination")
        # Retry where it can work (the failed series), nowhere else.
        expect(series_rows.nth(1).get_by_role("button", name=re.compile("^Retry"))).to_have_count(1)
        expect(series_rows.nth(0).get_by_role("button", name=re.compile("^Retry"))).to_have_count(0)
        page.keyboard.press("ArrowLeft")  # closes the series' details
        expect(axial_toggle).to_have_attribute("aria-expanded", "false")
        screen.shot("transfers-by-study")

        # Retry: the new transfer takes the old one's place in the group (it fails the same way:
        # the peer still refuses that instance), and only the new one offers Retry.
        series_rows.nth(1).get_by_role("button", name=re.compile("^Retry")).click()
        expect(notice).to_have_count(2, timeout=30_000)
        expect(series_rows).to_have_count(2)
        expect(page.locator("#transfers tbody").get_by_role("button", name=re.compile("^Retry"))).to_have_count(1)
        expect(failed_group.locator(".progress-text")).to_have_text(
            "1 of 2 series delivered, 1 failed · 4 / 5 instances (80 %)"
        )

        # Filters.
        page.locator(".segmented label", has_text="Failed").click()
        expect(groups).to_have_count(1)
        page.locator(".segmented label", has_text="Active").click()
        expect(groups).to_have_count(0)
        expect(page.locator("#transfers tbody")).to_contain_text("No transfer matches this filter.")
        page.locator(".segmented label", has_text="Today").click()
        expect(groups).to_have_count(6)
        page.locator(".segmented label", has_text="All").click()

        # "Clear finished" hides the rows, here and after a reload; the audit keeps every send.
        page.get_by_role("button", name="Clear finished").click()
        expect(groups).to_have_count(0)
        expect(page.locator("#transfers tbody")).to_contain_text("Finished transfers cleared")
        page.reload()
        expect(page.locator("#current-user")).to_have_text("alice")
        expect(page.locator("#transfers tbody tr.group")).to_have_count(0)
        assert TransferLog.objects.filter(action=Action.SEND, user=user).count() == 9

    # The audit log still lists the 9 sends (8 and the retry).
    page.get_by_role("link", name="Audit log").click()
    log_rows = page.locator("#log tbody tr")
    page.get_by_label("Action").select_option("send")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#log-page")).to_contain_text("9 entries")

    # The import of three patients says so, and its details name them.
    page.get_by_label("Action").select_option("import")
    page.get_by_role("button", name="Apply").click()
    expect(log_rows).to_have_count(1)
    expect(log_rows.first).to_contain_text("3 patients")
    log_rows.first.get_by_role("button", name=re.compile("Details")).click()
    dialog = page.locator("#log-dialog")
    expect(dialog).to_contain_text("Patients (3)")
    for name in ("DOE, PETER", "ROE, ANNA", "POE, EDGAR"):
        expect(dialog).to_contain_text(name)
    page.keyboard.press("Escape")

    # The failed send: the attempts as a table, the patient written the same way as in the row.
    page.get_by_label("Action").select_option("send")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Apply").click()
    expect(log_rows).to_have_count(2)  # the first attempt and its retry
    expect(log_rows.first.locator("td").nth(4)).to_have_text("DOE, PETER")
    expect(log_rows.first.locator("td").nth(4).locator("span")).to_have_attribute("title", "DOE^PETER")
    log_rows.first.get_by_role("button", name=re.compile("Details")).click()
    expect(dialog.locator(".person").first).to_have_text("DOE, PETER")
    expect(dialog).to_contain_text("(DICOM: DOE^PETER)")
    attempts = dialog.locator("table.attempts")
    expect(attempts.locator("thead")).to_have_text(
        re.compile("Attempt.*When.*How long.*Acknowledged.*Refused.*Not sent.*Outcome.*Message")
    )
    expect(attempts.locator("tbody tr")).to_have_count(1)
    cells = attempts.locator("tbody tr").first.locator("td")
    # At 1280 px the whole table is seen, its Message column too (no sideways scrolling).
    assert attempts.evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth"), "attempts scroll"
    # The retry (the newest entry) sent only what the first transfer had not delivered: the one
    # refused instance (its two others were acknowledged already).
    expect(cells.nth(3)).to_have_text("0")  # acknowledged by this attempt
    expect(cells.nth(4)).to_have_text("1")  # refused
    expect(dialog).to_contain_text(refused_sop)
    # No internal ids for an operator: no worker's claim, no import id, no raw JSON.
    failed_log = TransferLog.objects.filter(action=Action.SEND, status=Status.FAILED).order_by("-id")[0]
    text = dialog.inner_text()
    assert failed_log.details["attempts"][0]["worker"] not in text
    assert failed_log.details["import_id"] not in text
    expect(dialog.get_by_text("Raw details")).to_have_count(0)
    screen.shot("audit-attempts")
    page.keyboard.press("Escape")

    # Dates are written the ISO way, and From after To is said in words.
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    page.locator("#f-date-from").fill(tomorrow)
    page.locator("#f-date-to").fill(date.today().isoformat())
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#f-dates-error")).to_have_text(
        f"“From” ({tomorrow}) is after “To” ({date.today().isoformat()}): no entry can match. "
        "Choose a From date on or before the To date."
    )
    expect(page.locator("#f-date-from")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-date-to")).to_have_attribute("aria-invalid", "true")  # both are at fault
    page.locator("#f-date-from").fill("12/01/2026")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#f-dates-error")).to_contain_text("year-month-day, for example")
    expect(page.locator("#f-date-from")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-date-to")).not_to_have_attribute("aria-invalid", "true")  # only From is
    page.get_by_role("button", name="Reset").click()
    expect(page.locator("#f-dates-error")).to_be_hidden()


def test_deleting_a_destination_with_a_pending_transfer_warns_and_the_transfer_offers_no_retry(
    screen: Screen, admin_user: User, tmp_path: Path, workers: Callable[[], Workers]
) -> None:
    series = generate_series(tmp_path / "s", 2, patient_name="GONE^GRETA", description="SCOUT", series_number=1)
    imported = import_files(admin_user, series.files)
    gone = Destination.objects.create(name="Gone PACS", ae_title="GONE", host=LOOPBACK, port=104)
    # No worker yet: the transfer stays pending.
    (queued,) = transfers_create(
        user=admin_user,
        import_id=imported.pk,
        series_instance_uids=[series.series_instance_uid],
        destination_ids=[gone.pk],
    )
    page = screen.page
    screen.login("root")
    expect(page.locator("#transfers tbody tr.group")).to_have_count(1)
    page.get_by_role("link", name="Destinations").click()
    row = page.locator("#destinations tbody tr", has_text="Gone PACS")
    row.get_by_role("button", name="Delete Gone PACS").click()
    dialog = page.locator("#delete-destination-dialog")
    expect(dialog.locator("#delete-destination-warning")).to_have_text(
        "1 transfer to it is pending or sending. If you delete it, what has not been sent yet fails for good "
        "(no Retry). If you disable it instead, that fails too, but can be retried once the destination is "
        "enabled again."
    )
    screen.shot("destination-delete-warning")
    dialog.get_by_role("button", name="Disable instead").click()
    expect(row.locator(".enabled-cell")).to_have_text("No")
    gone.refresh_from_db()
    assert gone.enabled is False
    # Still pending, still warned; deleted anyway.
    row.get_by_role("button", name="Delete Gone PACS").click()
    expect(dialog.locator("#delete-destination-warning")).to_contain_text("1 transfer to it is pending")
    dialog.get_by_role("button", name="Delete anyway").click()
    expect(page.locator("#destinations tbody")).to_contain_text("No destination yet.")
    assert not Destination.objects.filter(pk=gone.pk).exists()

    workers()  # the claim finds the destination gone
    page.get_by_role("link", name="Send").click()
    group = page.locator("#transfers tbody tr.group")
    expect(group.locator(".status")).to_have_text("failed", timeout=30_000)
    expect(group).to_contain_text("Gone PACS (deleted)")
    group.locator("button.toggle").click()
    series_row = page.locator("#transfers tbody tr.series")
    expect(series_row.get_by_role("button", name=re.compile("Retry"))).to_have_count(0)
    expect(series_row).to_contain_text("The destination 'Gone PACS' was deleted.")
    series_row.locator("button.toggle").click()
    expect(page.locator("#transfers tbody tr.why-row")).to_contain_text(
        "The destination was deleted before the transfer started; nothing was sent."
    )
    queued.refresh_from_db()
    assert (queued.status, queued.destination_id, queued.destination_name) == (Status.FAILED, None, "Gone PACS")


def test_the_server_going_away_mid_transfer_shows_a_banner_that_goes_when_it_is_back(
    browser: Browser, live_server: Any, user: User, tmp_path: Path, workers: Callable[[], Workers]
) -> None:
    series = generate_series(tmp_path / "s", 24, patient_name="SLOW^SAM", description="LONG SERIES", series_number=9)
    imported = import_files(user, series.files)
    with fault_scp("SLOWSCP", delay=0.4) as slow, switchable_proxy(int(live_server.thread.port)) as proxy:
        target = Destination.objects.create(name="Slow PACS", ae_title=slow.ae_title, host=LOOPBACK, port=slow.port)
        transfers_create(
            user=user,
            import_id=imported.pk,
            series_instance_uids=[series.series_instance_uid],
            destination_ids=[target.pk],
        )
        workers()
        screen = Screen(browser, proxy.url, tmp_path)
        try:
            page = screen.page
            screen.login("alice")
            group = page.locator("#transfers tbody tr.group")
            expect(group.locator(".status")).to_have_text("sending", timeout=30_000)
            banner = page.locator("#connection-banner")
            expect(banner).to_be_hidden()

            proxy.stop()
            stopped = time.monotonic()
            expect(banner).to_be_visible(timeout=5_000)
            assert time.monotonic() - stopped < 5
            expect(banner).to_contain_text("Connection lost — retrying")
            # No pretending: the progress is marked as last known.
            expect(page.locator("#transfers-stale")).to_contain_text("Progress as last known")
            screen.shot("connection-lost")

            proxy.start()
            expect(banner).to_be_hidden(timeout=10_000)
            expect(page.locator("#transfers-stale")).to_be_hidden()
            expect(group.locator(".status")).to_have_text("success", timeout=60_000)
            expect(group.locator(".progress-text")).to_contain_text("24 / 24 instances (100 %)")
        finally:
            screen.close()
        # Errors the browser logs for the refused connections are the point of this test.
        assert [e for e in screen.errors if "ERR_CONNECTION" not in e] == []
    assert len(slow.received) == 24


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations of what the page shows now."""
    answer = page.evaluate(
        """async () => {
            const result = await axe.run(document);
            return {
                checked: result.passes.length,
                violations: result.violations
                    .filter((v) => v.impact === "serious" || v.impact === "critical")
                    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                   nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) })),
            };
        }"""
    )
    # axe ran its rules (colour contrast, names, ARIA...) on this page, not on nothing.
    assert answer["checked"] > 10
    return list(answer["violations"])


def test_axe_finds_no_serious_or_critical_violation_on_any_page(
    browser: Browser, live_server: Any, admin_user: User, tmp_path: Path
) -> None:
    if not AXE.exists():
        message = f"{AXE} is missing: `make axe` (part of `make test`) fetches axe-core with npm."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    series = generate_series(tmp_path / "upload", 2, patient_name="AXE^ADA", description="AXIAL", series_number=2)
    done = import_files(admin_user, series.files)
    pacs = Destination.objects.create(name="Axe PACS", ae_title="AXE", host=LOOPBACK, port=104)
    (failed,) = transfers_create(
        user=admin_user, import_id=done.pk, series_instance_uids=[series.series_instance_uid], destination_ids=[pacs.pk]
    )
    TransferLog.objects.filter(pk=failed.pk).update(status=Status.FAILED, error_message="Refused.", attempt=1)
    # And one still pending (no worker runs here), for the delete warning.
    transfers_create(
        user=admin_user, import_id=done.pk, series_instance_uids=[series.series_instance_uid], destination_ids=[pacs.pk]
    )
    screen = Screen(browser, live_server.url, tmp_path)
    try:
        page = screen.page
        # Injected by the browser, not by the page: the page's CSP stays as it is.
        page.add_init_script(path=str(AXE))
        found: dict[str, list[dict[str, Any]]] = {}
        page.goto(live_server.url + "/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        found["sign-in"] = axe_violations(page)
        screen.login("root")
        page.locator("#pick-files").set_input_files([str(p) for p in series.files])
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#tree tbody tr.level-series")).to_have_count(1)
        page.locator("#transfers tbody tr.group button.toggle").click()
        page.locator("#transfers tbody tr.series button.toggle").click()
        expect(page.locator("#transfers tbody tr.why-row")).to_be_visible()
        found["send"] = axe_violations(page)
        page.get_by_role("link", name="Audit log").click()
        expect(page.locator("#log tbody tr").first).to_be_visible()
        found["audit"] = axe_violations(page)
        page.locator("#log tbody tr", has_text="send").first.get_by_role("button", name=re.compile("Details")).click()
        expect(page.locator("#log-dialog")).to_be_visible()
        found["audit entry"] = axe_violations(page)
        page.keyboard.press("Escape")
        page.get_by_role("link", name="Destinations").click()
        expect(page.locator("#destinations tbody tr", has_text="Axe PACS")).to_be_visible()
        found["destinations"] = axe_violations(page)
        page.get_by_role("button", name="New destination").click()
        page.locator("#destination-dialog").get_by_label("AE title").fill("BAD\\AE-FAR-TOO-LONG")
        page.locator("#destination-dialog").get_by_role("button", name="Save").click()
        expect(page.locator("#d-ae-error li")).to_have_count(2)
        found["destination form"] = axe_violations(page)
        page.keyboard.press("Escape")
        page.locator("#destinations tbody tr", has_text="Axe PACS").get_by_role(
            "button", name="Delete Axe PACS"
        ).click()
        expect(page.locator("#delete-destination-warning")).to_be_visible()
        found["delete warning"] = axe_violations(page)
        page.keyboard.press("Escape")
        page.get_by_role("link", name="Users").click()
        expect(page.locator("#view-users")).to_be_visible()
        found["users"] = axe_violations(page)
        page.locator("#change-password").click()
        expect(page.locator("#view-password")).to_be_visible()
        found["password"] = axe_violations(page)
    finally:
        screen.close()
    assert {page_name: v for page_name, v in found.items() if v} == {}
    assert screen.errors == []
