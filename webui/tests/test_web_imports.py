"""The page uploads a folder in batches; reloaded in the middle, it finds the import again in
Recent imports, and Resume (the same folder picked again) sends only what the server lacks."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Request, Route, expect

from dicom_api.models import DicomInstance, ImportSession, ImportUpload
from testsupport.dicom_data import generate_series, instance
from webui.tests import test_web_e2e
from webui.tests.test_web_e2e import Screen

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

# The browser and the page of the end-to-end tests.
browser = test_web_e2e.browser
screen = test_web_e2e.screen

BATCHES = re.compile(r"/api/dicom/imports/[0-9a-f-]+/files/$")


def test_a_reload_in_the_middle_of_an_upload_finds_it_again_and_resume_sends_the_rest(
    screen: Screen, user: User, tmp_path: Path
) -> None:
    root = tmp_path / "pick"
    generate_series(root / "DISC" / "CT", 450, patient_name="RESUME^RITA", description="Long CT")
    (root / "DISC" / "README.txt").write_text("not an image")
    sizes = {p: p.stat().st_size for p in root.rglob("*") if p.is_file()}
    page = screen.page
    screen.login("alice")
    expect(page.locator("#recent-imports-empty")).to_be_visible()

    posted: list[str] = []
    routed: list[str] = []
    held: list[Route] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and BATCHES.search(request.url):
            posted.append(request.url)

    def hold_the_second(route: Route) -> None:
        if route.request.method == "POST":
            routed.append(route.request.url)
            if len(routed) == 2:
                held.append(route)  # never answered: the page is reloaded while it is on its way
                return
        route.continue_()

    page.on("request", on_request)
    page.route(BATCHES, hold_the_second)
    page.locator("#pick-folder").set_input_files(str(root))
    expect(page.locator("#staged-summary")).to_contain_text("451 files")
    page.get_by_role("button", name="Upload").click()
    deadline = 30_000
    while not held and deadline > 0:
        page.wait_for_timeout(100)
        deadline -= 100
    assert held, "the second batch was never sent"
    session = ImportSession.objects.get()
    assert (session.state, session.received_files) == ("open", 200)

    # The held batch is dropped before the reload: left paused, the browser would let it go on to
    # the server when the route is removed (and the resume below would then send it a second time).
    for route in held:
        route.abort("connectionreset")
    page.unroute(BATCHES)
    page.reload()
    expect(page.locator("#current-user")).to_have_text("alice")

    # Recent imports shows the unfinished import, after the reload, from the server.
    row = page.locator("#recent-imports li[data-state=open]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Not finished: 200 files received")
    screen.shot("recent-imports")
    assert screen.page.locator("#tree-card").is_hidden()

    posted.clear()
    row.get_by_role("button", name=re.compile("^Resume the import")).click()
    expect(page.locator("#resume-note")).to_contain_text("choose the same folder")
    page.locator("#pick-folder").set_input_files(str(root))
    expect(page.locator("#staged-summary")).to_contain_text("251 files")
    expect(page.locator("#staged-summary")).to_contain_text("200 already on the server, skipped")
    screen.shot("resume")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_contain_text("Imported 450 instances from 451 files", timeout=60_000)
    expect(page.locator(".file-errors li")).to_have_text("pick/DISC/README.txt: not a DICOM file")
    expect(page.locator("#tree tbody tr.level-series")).to_have_count(1)
    expect(page.locator("#staged")).to_be_hidden()  # the refused file left the queue too
    expect(page.locator("#resume-note")).to_be_hidden()

    # Only the two missing batches went up (200 + 51 files), and the server kept each byte once.
    assert len(posted) == 2
    session.refresh_from_db()
    assert session.state == "complete"
    assert session.instance_count == 450 == DicomInstance.objects.filter(import_session=session).count()
    assert session.received_files == 451
    assert session.received_bytes == sum(sizes.values())
    expect(page.locator("#recent-imports li[data-state=complete]")).to_contain_text("450 instances")


def test_recent_imports_open_and_delete(screen: Screen, user: User, tmp_path: Path, settings: Any) -> None:
    root = tmp_path / "pick"
    generate_series(root / "CT", 3, patient_name="LIST^LISA", description="Short CT")
    page = screen.page
    screen.login("alice")
    page.locator("#pick-folder").set_input_files(str(root))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_contain_text("Imported 3 instances")
    page.reload()
    expect(page.locator("#current-user")).to_have_text("alice")
    row = page.locator("#recent-imports li[data-state=complete]")
    expect(row).to_contain_text("3 instances, 1 patient, 1 series")
    row.get_by_role("button", name=re.compile("^Open the import")).click()
    expect(page.locator("#tree tbody tr.level-series")).to_contain_text("Short CT")
    # Deleting asks first: Cancel keeps the import, Delete removes it.
    row.get_by_role("button", name=re.compile("^Delete the import")).click()
    confirm = page.locator("#delete-import-dialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("3 instances, 1 patient, 1 series")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(row).to_be_visible()
    assert ImportSession.objects.exists()
    row.get_by_role("button", name=re.compile("^Delete the import")).click()
    confirm.get_by_role("button", name="Delete").click()
    expect(page.locator("#recent-imports li")).to_have_count(0)
    expect(page.locator("#recent-imports-empty")).to_be_visible()
    assert not ImportSession.objects.exists()
    assert not any(Path(settings.IMPORTS_DIR).iterdir())


CHUNKS = re.compile(r"/api/dicom/imports/[0-9a-f-]+/uploads/[0-9a-f-]+/\?offset=(\d+)$")


def test_a_large_zip_goes_in_chunks_and_a_reload_resumes_it_from_the_servers_offset(
    screen: Screen, user: User, tmp_path: Path
) -> None:
    # 70 MB that do not compress: past the page's 64 MB, so it goes in chunks of 16 MB (5 of them).
    disc = tmp_path / "DISC.zip"
    with zipfile.ZipFile(disc, "w", compression=zipfile.ZIP_STORED) as archive:
        for n in range(10):
            archive.writestr(f"CT/{n:02d}.dcm", instance(pixel_data=os.urandom(7_000_064), rows=64, instance_number=n))
    size = disc.stat().st_size
    page = screen.page
    screen.login("alice")

    offsets: list[int] = []
    held: list[Route] = []

    def hold_the_third(route: Route) -> None:
        match = CHUNKS.search(route.request.url)
        if match and route.request.method == "PATCH":
            offsets.append(int(match.group(1)))
            if len(offsets) == 3:
                held.append(route)  # never answered: the page is reloaded while it is on its way
                return
        route.continue_()

    page.route(CHUNKS, hold_the_third)
    page.locator("#pick-files").set_input_files(str(disc))
    page.get_by_role("button", name="Upload").click()
    for _ in range(600):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the third chunk was never sent"
    for route in held:  # dropped before the reload (left paused, it would go on when unrouted)
        route.abort("connectionreset")
    page.unroute(CHUNKS)
    page.reload()
    expect(page.locator("#current-user")).to_have_text("alice")
    assert ImportUpload.objects.get().offset == 2 * 16 * 1024 * 1024

    resumed: list[int] = []

    def on_request(request: Request) -> None:
        match = CHUNKS.search(request.url)
        if match:
            resumed.append(int(match.group(1)))

    page.on("request", on_request)
    row = page.locator("#recent-imports li[data-state=open]")
    row.get_by_role("button", name=re.compile("^Resume the import")).click()
    page.locator("#pick-files").set_input_files(str(disc))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_contain_text("Imported 10 instances from 10 files", timeout=60_000)

    # Only what the server lacked: the chunks from 32 MB on.
    assert resumed == [32 * 1024**2, 48 * 1024**2, 64 * 1024**2]
    session = ImportSession.objects.get()
    assert (session.state, session.instance_count, session.received_bytes) == ("complete", 10, size)
    assert not ImportUpload.objects.exists()


def test_the_files_skipped_as_duplicates_are_named(screen: Screen, user: User, tmp_path: Path) -> None:
    root = tmp_path / "pick"
    series = generate_series(root / "CT", 2, patient_name="TWICE^TOM", description="Twice CT")
    copy = root / "BACKUP" / "same-as-first.dcm"
    copy.parent.mkdir()
    copy.write_bytes(series.files[0].read_bytes())
    page = screen.page
    screen.login("alice")
    page.locator("#pick-folder").set_input_files(str(root))
    page.get_by_role("button", name="Upload").click()
    result = page.locator("#upload-result")
    expect(result).to_contain_text("Imported 2 instances from 3 files, 1 duplicate skipped.")
    duplicates = result.locator("details.duplicates")
    duplicates.locator("summary").click()
    expect(duplicates.locator("li")).to_have_count(1)
    expect(duplicates.locator("li")).to_contain_text(series.sop_instance_uids[0])
    name = duplicates.locator("li .filename").text_content() or ""
    assert name.endswith(("BACKUP/same-as-first.dcm", "CT/" + series.files[0].name)), name  # whichever came second
