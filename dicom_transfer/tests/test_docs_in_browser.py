"""The API docs (Swagger UI from drf-spectacular-sidecar) and the admin work under their
Content-Security-Policy, in Debian's headless Chromium: the docs render every operation and no
script is blocked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package.")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"], headless=True
            )
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def open_page(browser: Browser, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(url)
    return page, problems


def test_swagger_ui_renders_every_operation_under_its_policy(browser: Browser, live_server: Any) -> None:
    page, problems = open_page(browser, f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "DICOM Transfer API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.locator(".opblock").count() >= 15
    # A section opens (Swagger UI's own scripts run).
    page.locator(".opblock-summary").first.click()
    page.wait_for_selector(".opblock-body", timeout=5_000)
    assert not [p for p in problems if "Content Security Policy" in p or "pageerror" in p], problems
    page.close()


def test_admin_login_page_works_under_its_policy(browser: Browser, live_server: Any) -> None:
    page, problems = open_page(browser, f"{live_server.url}/admin/login/")
    page.wait_for_selector("#id_username")
    assert page.locator("input[type=submit]").count() == 1
    assert not [p for p in problems if "Content Security Policy" in p or "pageerror" in p], problems
    page.close()
