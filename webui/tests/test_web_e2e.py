"""The web page end to end, in Debian's headless Chromium driven by Playwright: the running app
(pytest-django's live server), a real ``db_worker`` and a real storescp.

Set ``WEBUI_SCREENSHOTS=docs/screenshots`` to refresh the README's screenshots from this run.
"""

from __future__ import annotations

import base64
import io
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect, sync_playwright
from rest_framework_simplejwt.tokens import AccessToken

from authentication.models import EndReason, LoginSession
from conftest import PASSWORD
from destinations.models import Destination
from dicom_api.models import Action, TransferLog
from testsupport.dicom_data import generate_series
from testsupport.peers import LOOPBACK, storescp
from testsupport.workers import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FOLDER_PATIENT = "FOLDER^ALICE"
ZIP_PATIENT = "ARCHIVE^BOB"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (apt-get install chromium)."
        )
    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test itself
    # are synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


class Screen:
    """A page at 1280×800 that records script errors and saves screenshots on request."""

    def __init__(self, browser: Browser, base_url: str, tmp_path: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        self.context.set_default_timeout(15_000)
        self.page: Page = self.context.new_page()
        self.base_url = base_url
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on("console", self._console)
        self.shots = Path(os.environ.get("WEBUI_SCREENSHOTS") or tmp_path / "screenshots")
        self.shots.mkdir(parents=True, exist_ok=True)

    def _console(self, message: Any) -> None:
        # A 400 or 401 answer is logged by Chromium as "Failed to load resource": that is the API
        # answering, which the page handles. Anything else (script error, CSP violation) is a bug.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(f"console: {message.text}")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def login(self, username: str, password: str = PASSWORD) -> None:
        self.page.goto(self.base_url + "/")
        self.sign_in_form(username, password)
        expect(self.page.locator("#current-user")).to_have_text(username)

    def sign_in_form(self, username: str, password: str) -> None:
        # Within the sign-in form: the users and password forms have fields named alike.
        form = self.page.locator("#login-form")
        form.get_by_label("Username").fill(username)
        form.get_by_label("Password").fill(password)
        form.get_by_role("button", name="Sign in").click()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def screen(browser: Browser, live_server: Any, tmp_path: Path) -> Iterator[Screen]:
    s = Screen(browser, live_server.url, tmp_path)
    yield s
    s.close()
    assert s.errors == []


@pytest.fixture
def workers(tmp_path: Path, transactional_db: None) -> Iterator[Callable[[], Workers]]:
    started: list[Workers] = []

    def start() -> Workers:
        pool = Workers(tmp_path)
        pool.start(1)
        started.append(pool)
        return pool

    yield start
    for pool in started:
        pool.stop()


def zip_bytes(files: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, f"disc/{path.name}")
    return buffer.getvalue()


def drop_file(page: Page, selector: str, name: str, content: bytes) -> None:
    """Drop a file on an element, as the browser does for a drag from the desktop."""
    page.evaluate(
        """([selector, name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "application/zip" }));
            const target = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
        }""",
        [selector, name, base64.b64encode(content).decode()],
    )


def storage_is_empty(page: Page) -> bool:
    return bool(page.evaluate("() => localStorage.length === 0 && sessionStorage.length === 0"))


def test_a_user_uploads_sends_watches_audits_and_logs_out(
    screen: Screen, user: User, tmp_path: Path, workers: Callable[[], Workers]
) -> None:
    # A folder: two series of one study, and a file that is not DICOM. A ZIP: another patient.
    folder = tmp_path / "upload" / "CDROM"
    ct = generate_series(folder / "ct", 6, patient_name=FOLDER_PATIENT, patient_id="PID-F", description="Chest CT")
    generate_series(
        folder / "mr",
        4,
        patient_name=FOLDER_PATIENT,
        patient_id="PID-F",
        study_instance_uid=ct.study_instance_uid,
        modality="MR",
        description="Head MR",
    )
    (folder / "notes.txt").write_text("not an image")
    archived = generate_series(
        tmp_path / "zip", 5, patient_name=ZIP_PATIENT, patient_id="PID-Z", modality="CT", description="Abdomen CT"
    )
    page = screen.page

    with storescp(tmp_path / "scp", "E2ESCP") as scp:
        target = Destination.objects.create(name="Main PACS", ae_title=scp.ae_title, host=LOOPBACK, port=scp.port)
        Destination.objects.create(name="Old PACS", ae_title="OLD", host=LOOPBACK, port=1, enabled=False)
        workers()

        page.goto(screen.base_url + "/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        screen.shot("login")
        screen.login("alice")
        expect(page.locator("#current-role")).to_have_text("")
        expect(page.get_by_role("link", name="Destinations")).to_be_hidden()

        # Upload: a folder through the folder picker, a ZIP dropped on the zone, then one request.
        page.locator("#pick-folder").set_input_files(str(tmp_path / "upload"))
        expect(page.locator("#staged-summary")).to_contain_text("11 files")
        drop_file(page, "#dropzone", "study.zip", zip_bytes(archived.files))
        expect(page.locator("#staged-summary")).to_contain_text("12 files")
        expect(page.locator("#staged-summary")).to_contain_text("study.zip")
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#upload-result")).to_contain_text("Imported 15 instances from 16 files")
        expect(page.locator("#upload-bar")).to_have_attribute("aria-valuetext", "100 %")
        expect(page.locator(".file-errors li")).to_have_count(1)
        expect(page.locator(".file-errors li")).to_contain_text("notes.txt")

        # The tree: two patients, two studies, three series, with counts and modalities.
        tree = page.locator("#tree tbody")
        expect(tree.locator("tr.level-patient")).to_have_count(2)
        expect(tree.locator("tr.level-study")).to_have_count(2)
        expect(tree.locator("tr.level-series")).to_have_count(3)
        folder_row = tree.locator("tr.level-patient", has_text="FOLDER, ALICE")
        expect(folder_row).to_contain_text("PID-F")
        expect(folder_row.locator("td").nth(2)).to_have_text("CT, MR")
        expect(folder_row.locator("td").nth(4)).to_have_text("10")
        chest = tree.locator("tr.level-series", has_text="Chest CT")
        expect(chest.locator("td").nth(2)).to_have_text("CT")
        expect(chest.locator("td").nth(4)).to_have_text("6")
        expect(chest.locator("td").nth(5)).to_have_text(re.compile(r"\d+(\.\d)? KB"))
        expect(tree.locator("tr.level-series", has_text="Head MR").locator("td").nth(4)).to_have_text("4")

        # Check boxes: a series, then a whole patient; the study in between is half chosen.
        page.get_by_label("#1 Chest CT").check()
        study_box = folder_row.locator("xpath=following-sibling::tr[1]").locator("input")
        assert study_box.evaluate("box => box.indeterminate") is True
        assert page.locator("#select-all").evaluate("box => box.indeterminate") is True
        tree.locator("tr.level-patient", has_text="ARCHIVE, BOB").locator("input").check()
        expect(page.locator("#selection-summary")).to_have_text(re.compile(r"^2 series selected \(11 instances"))
        # Select all, then none, then back to the two series.
        page.locator("#select-all").check()
        expect(page.locator("#selection-summary")).to_contain_text("3 series selected")
        page.locator("#select-all").uncheck()
        expect(page.locator("#selection-summary")).to_have_text("No series selected.")
        # The keyboard: arrows move between the tree's boxes, space toggles the focused one.
        chest_box = page.get_by_label("#1 Chest CT")
        chest_box.focus()
        position = "() => [...document.querySelectorAll('#tree tbody input')].indexOf(document.activeElement)"
        at_chest = page.evaluate(position)
        last = page.locator("#tree tbody input").count() - 1
        away, back, step = ("ArrowDown", "ArrowUp", 1) if at_chest < last else ("ArrowUp", "ArrowDown", -1)
        page.keyboard.press(away)
        assert page.evaluate(position) == at_chest + step
        page.keyboard.press(back)
        expect(chest_box).to_be_focused()
        page.keyboard.press("Space")
        expect(chest_box).to_be_checked()
        expect(page.locator("#selection-summary")).to_have_text(re.compile(r"^1 series selected \(6 instances"))
        page.keyboard.press("Space")
        expect(page.locator("#selection-summary")).to_have_text("No series selected.")
        page.get_by_label("#1 Chest CT").check()
        page.get_by_label("#1 Abdomen CT").check()

        # Destinations: only the enabled one; its connection test answers.
        choices = page.locator("#destination-choices li")
        expect(choices).to_have_count(1)
        choices.get_by_role("button", name="Test connection to Main PACS").click()
        expect(choices.locator(".echo-result")).to_contain_text("Success")
        expect(page.get_by_role("button", name="Send")).to_be_disabled()
        page.get_by_role("checkbox", name=re.compile(r"^Main PACS")).check()
        screen.shot("upload-and-choose")
        page.get_by_role("button", name="Send (2 transfers)").click()

        # Two studies × one destination: two grouped rows that reach 100 % and success, live.
        groups = page.locator("#transfers tbody tr.group")
        expect(groups).to_have_count(2)
        for group in (groups.nth(0), groups.nth(1)):
            expect(group.locator(".status")).to_have_text("success", timeout=30_000)
            expect(group.locator(".progress-text")).to_contain_text("(100 %)")
        expect(page.locator("#transfers tr.request")).to_contain_text("2 of 2 studies delivered to Main PACS")
        # Each opens to its series.
        for group in (groups.nth(0), groups.nth(1)):
            group.locator("button.toggle").click()
        series_rows = page.locator("#transfers tbody tr.series")
        expect(series_rows.filter(has_text="Chest CT").locator(".progress-text")).to_have_text("6 / 6 (100 %)")
        expect(series_rows.filter(has_text="Abdomen CT").locator(".progress-text")).to_have_text("5 / 5 (100 %)")
        expect(page.locator("#transfers tbody").get_by_role("button", name=re.compile("Cancel|Retry"))).to_have_count(0)
        screen.shot("transfers")
        assert set(scp.received()) == set(ct.sop_instance_uids) | set(archived.sop_instance_uids)

        # Sending a delivered series again is a choice: the page asks, "Cancel" sends nothing.
        page.get_by_role("checkbox", name="#1 Chest CT").check()
        page.get_by_role("button", name="Send (1 transfer)").click()
        confirm = page.locator("#resend-dialog")
        expect(confirm).to_contain_text("Already sent: #1 Chest CT (CT) → Main PACS (delivered")
        expect(confirm.get_by_role("button", name="Send only the others")).to_be_hidden()  # there are none
        confirm.get_by_role("button", name="Cancel").click()
        expect(groups).to_have_count(2)
        expect(page.locator("#send-error")).to_have_text(
            "Nothing was sent: you chose not to send again what had been delivered before."
        )
        page.get_by_role("button", name="Send (1 transfer)").click()
        confirm.get_by_role("button", name="Send again").click()
        expect(groups).to_have_count(3)
        for index in range(3):
            expect(groups.nth(index).locator(".status")).to_have_text("success", timeout=30_000)

        # Partly sent before: "Send only the others" sends what was not, and only that.
        page.get_by_role("checkbox", name="#1 Chest CT").check()
        page.get_by_role("checkbox", name=re.compile("Head MR")).check()
        page.get_by_role("button", name="Send (2 transfers)").click()
        expect(confirm).to_contain_text(
            "1 of the 2 series × destination were sent before: #1 Chest CT (CT) → Main PACS"
        )
        confirm.get_by_role("button", name="Send only the others").click()
        expect(groups).to_have_count(4)
        expect(groups.first.locator(".status")).to_have_text("success", timeout=30_000)

    sends = TransferLog.objects.filter(action=Action.SEND, user=user)
    assert sorted(sends.values_list("status", "destination_id", "instances_sent")) == [
        ("success", target.pk, 4),
        ("success", target.pk, 5),
        ("success", target.pk, 6),
        ("success", target.pk, 6),
    ]
    assert sends.filter(series_description="Chest CT").count() == 2  # not a third time

    # The audit log: filter the sends of one patient.
    page.get_by_role("link", name="Audit log").click()
    log_rows = page.locator("#log tbody tr")
    expect(log_rows.first).to_be_visible()
    expect(log_rows.filter(has_text="login")).to_have_count(1)
    page.get_by_label("Action").select_option("send")
    page.get_by_label("Search").fill("PID-Z")
    page.get_by_role("button", name="Apply").click()
    expect(log_rows).to_have_count(1)
    expect(log_rows.first).to_contain_text("ARCHIVE, BOB")
    expect(log_rows.first).to_contain_text("Main PACS")
    expect(log_rows.first).to_contain_text("success")
    expect(page.locator("#log-page")).to_contain_text("1 entry")
    page.get_by_label("Search").fill("")
    page.get_by_label("Destination", exact=True).select_option("Main PACS")
    page.get_by_role("button", name="Apply").click()
    expect(log_rows).to_have_count(4)  # the Chest CT was sent twice, the Head MR once
    # Sorting by patient, both ways: A to Z first.
    page.get_by_role("button", name="Patient").click()
    expect(page.locator('#log th[data-sort="patient_name"]')).to_have_attribute("aria-sort", "ascending")
    expect(log_rows.first).to_contain_text("ARCHIVE, BOB")
    page.get_by_role("button", name="Patient").click()
    expect(page.locator('#log th[data-sort="patient_name"]')).to_have_attribute("aria-sort", "descending")
    expect(log_rows.first).to_contain_text("FOLDER, ALICE")
    page.get_by_role("button", name="Patient").click()
    expect(log_rows.first).to_contain_text("ARCHIVE, BOB")
    # Times are written year first, whatever the browser's locale.
    expect(log_rows.first).to_contain_text(re.compile(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d"))
    screen.shot("audit-log")
    # One entry's details.
    log_rows.first.get_by_role("button", name=re.compile("Details")).click()
    dialog = page.locator("#log-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(archived.series_instance_uid)
    expect(dialog).to_contain_text("E2ESCP")
    screen.shot("audit-entry")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # CSV of the same filter, downloaded with the token.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export CSV").click()
    csv_text = Path(download_info.value.path()).read_text()
    assert download_info.value.suggested_filename.endswith(".csv")
    lines = [line for line in csv_text.splitlines() if line.strip()]
    assert len(lines) == 5, csv_text  # the header and four sends
    assert "ARCHIVE^BOB" in csv_text and "FOLDER^ALICE" in csv_text

    # Narrow window: nothing sticks out sideways (wide tables scroll inside their box).
    page.set_viewport_size({"width": 390, "height": 800})
    page.get_by_role("link", name="Send").click()
    expect(page.locator("#transfers tbody tr.group")).to_have_count(4)  # the Chest CT again, the Head MR
    wide = page.evaluate(
        """() => Array.from(document.querySelectorAll('body *'))
            .filter((e) => e.getBoundingClientRect().right > 391 && e.getClientRects().length)
            .filter((e) => !(e.parentElement && e.parentElement.closest('.table-wrap')))
            .map((e) => e.tagName + '#' + e.id + '.' + e.className)"""
    )
    assert wide == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    screen.shot("narrow")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Logout: the refresh token is blacklisted and nothing of the patients stays in the browser.
    refresh = page.evaluate("() => sessionStorage.getItem('dicom-transfer.refresh')")
    assert refresh
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert storage_is_empty(page)
    content = page.content()
    for text in (FOLDER_PATIENT, ZIP_PATIENT, "FOLDER, ALICE", "ARCHIVE, BOB", "PID-F", "PID-Z", "Chest CT"):
        assert text not in content
    answer = page.request.post(screen.base_url + "/api/auth/refresh/", data={"refresh": refresh})
    assert answer.status == 401
    assert TransferLog.objects.filter(action=Action.LOGOUT, user=user).count() == 1


def test_an_admin_creates_fixes_tests_disables_and_deletes_a_destination(
    screen: Screen, admin_user: User, tmp_path: Path
) -> None:
    page = screen.page
    with storescp(tmp_path / "scp", "ARCHIVE") as scp:
        screen.login("root")
        expect(page.locator("#current-role")).to_have_text(" (admin)")
        page.get_by_role("link", name="Destinations").click()
        page.get_by_role("button", name="New destination").click()
        dialog = page.locator("#destination-dialog")
        dialog.get_by_label("Name", exact=True).fill("Archive")
        dialog.get_by_label("AE title").fill("BAD\\AE-FAR-TOO-LONG")
        dialog.get_by_label("Host").fill(LOOPBACK)
        dialog.get_by_label("Port").fill(str(scp.port))
        dialog.get_by_role("button", name="Save").click()

        # The error sits next to its field, and nothing was created.
        error = dialog.locator("#d-ae-error")
        expect(error).to_be_visible()
        # Every problem of the field at once: the length and the backslash.
        expect(error.locator("li")).to_have_count(2)
        expect(error).to_contain_text("at most 16")
        expect(error).to_contain_text("backslash")
        expect(dialog.get_by_label("AE title")).to_have_attribute("aria-invalid", "true")
        expect(dialog.get_by_label("AE title")).to_be_focused()
        expect(dialog.locator("#d-name-error")).to_be_hidden()
        assert not Destination.objects.exists()
        screen.shot("destination-field-error")

        dialog.get_by_label("AE title").fill(scp.ae_title)
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        row = page.locator("#destinations tbody tr", has_text="Archive")
        expect(row).to_contain_text(str(scp.port))
        expect(row.locator(".enabled-cell")).to_have_text("Yes")
        created = Destination.objects.get()
        assert (created.name, created.ae_title, created.host, created.port, created.enabled) == (
            "Archive",
            "ARCHIVE",
            LOOPBACK,
            scp.port,
            True,
        )

        row.get_by_role("button", name="Test connection to Archive").click()
        expect(row.locator(".echo-result")).to_contain_text("Success")
        screen.shot("destinations")

        row.get_by_role("button", name="Disable Archive").click()
        expect(row.locator(".enabled-cell")).to_have_text("No")
        created.refresh_from_db()
        assert created.enabled is False
        # A disabled destination can't be chosen for a send.
        page.get_by_role("link", name="Send").click()
        expect(page.locator("#destination-choices li")).to_have_count(0)

        # Delete asks first; "Cancel" keeps it.
        page.get_by_role("link", name="Destinations").click()
        row.get_by_role("button", name="Delete Archive").click()
        confirm = page.locator("#delete-destination-dialog")
        expect(confirm).to_contain_text("Delete the destination “Archive”?")
        # Nothing is on its way there: no warning, no "Disable instead".
        expect(confirm.locator("#delete-destination-warning")).to_be_hidden()
        expect(confirm.get_by_role("button", name="Disable instead")).to_be_hidden()
        confirm.get_by_role("button", name="Cancel").click()
        expect(row).to_be_visible()
        assert Destination.objects.filter(pk=created.pk).exists()
        row.get_by_role("button", name="Delete Archive").click()
        confirm.get_by_role("button", name="Delete").click()
        expect(page.locator("#destinations tbody")).to_contain_text("No destination yet.")
        assert not Destination.objects.filter(pk=created.pk).exists()


def test_an_admin_sets_the_associations_per_transfer_of_a_destination(
    screen: Screen, admin_user: User, settings: Any
) -> None:
    settings.TRANSFER_MAX_CONCURRENT_PER_DESTINATION = 4
    page = screen.page
    screen.login("root")
    page.get_by_role("link", name="Destinations").click()
    page.get_by_role("button", name="New destination").click()
    dialog = page.locator("#destination-dialog")
    expect(dialog.get_by_label("Associations per transfer")).to_have_value("1")
    dialog.get_by_label("Name", exact=True).fill("Remote PACS")
    dialog.get_by_label("AE title").fill("REMOTE")
    dialog.get_by_label("Host").fill(LOOPBACK)
    dialog.get_by_label("Associations per transfer").fill("8")
    dialog.get_by_role("button", name="Save").click()
    # Beyond the per-destination cap: said next to the field, naming the limit; nothing saved.
    error = dialog.locator("#d-associations-error")
    expect(error).to_contain_text("between 1 and 4")
    expect(dialog.get_by_label("Associations per transfer")).to_have_attribute("aria-invalid", "true")
    assert not Destination.objects.exists()
    dialog.get_by_label("Associations per transfer").fill("4")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    assert Destination.objects.get().max_associations == 4
    # Editing shows it, and saving something else keeps it.
    page.get_by_role("button", name="Edit Remote PACS").click()
    expect(dialog.get_by_label("Associations per transfer")).to_have_value("4")
    dialog.get_by_label("Description", exact=True).fill("over the VPN")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    saved = Destination.objects.get()
    assert (saved.description, saved.max_associations) == ("over the VPN", 4)


def test_an_expired_access_token_is_refreshed_once_without_the_user_noticing(
    screen: Screen, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The live server runs in this process: its access tokens now live one second.
    monkeypatch.setattr(AccessToken, "lifetime", timedelta(seconds=1))
    Destination.objects.create(name="Night PACS", ae_title="NIGHT", host=LOOPBACK, port=104)
    page = screen.page
    refreshes: list[int] = []
    page.on(
        "response", lambda response: refreshes.append(response.status) if "/api/auth/refresh/" in response.url else None
    )
    screen.login("alice")
    expect(page.locator("#destination-choices li")).to_have_count(1)
    time.sleep(1.5)
    # Showing the send screen again asks for destinations and transfers at once: both get 401,
    # and one refresh serves both (the refresh token rotates; a second refresh would fail).
    page.evaluate("() => { location.hash = '#again'; }")
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("#log tbody tr").filter(has_text="login")).to_have_count(1)
    time.sleep(1.5)
    page.get_by_role("link", name="Send").click()
    expect(page.locator("#destination-choices li")).to_have_count(1)
    assert refreshes and all(status == 200 for status in refreshes)
    assert page.locator("#current-user").text_content() == "alice"
    # Logout still works with the rotated refresh token (refreshed first if need be): afterwards
    # the session (the one of this sign-in) has ended, so none of its tokens works any more.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert storage_is_empty(page)
    sessions = LoginSession.objects.filter(user=user)
    assert sessions.count() == 1
    assert sessions.get().end_reason == EndReason.LOGOUT
    assert TransferLog.objects.filter(action=Action.LOGOUT, user=user).count() == 1


def test_wrong_credentials_are_refused_plainly(screen: Screen, user: User) -> None:
    page = screen.page
    page.goto(screen.base_url + "/")
    page.locator("#login-form").get_by_label("Username").fill("alice")
    page.locator("#login-form").get_by_label("Password").fill("wrong")
    page.keyboard.press("Enter")
    expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    expect(page.locator("#account")).to_be_hidden()
    assert storage_is_empty(page)
