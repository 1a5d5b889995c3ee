"""CR/LF and ANSI escapes sent by a client never reach a log line raw; client file names never at all.

End to end: hostile text goes in through the API (an AE title, a description, a series
description, a file name, a URL path), and what the real handlers of the LOGGING setting wrote is
read back: the file handler's ``dicom_transfer.log`` and the console handler's stream.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from testsupport.dicom_data import instance, upload, zip_bytes

pytestmark = pytest.mark.django_db

HOSTILE = "x\r\n2026-01-01 00:00:00,000 INFO dicom_api 1 forged line\x1b[31m\x1b[2J\x07"
_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ \d+ ")


class Captured:
    def __init__(self) -> None:
        self.log_file = Path(settings.LOG_DIR) / "dicom_transfer.log"
        self.offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        self.console = io.StringIO()

    def text(self) -> str:
        for handler in _handlers():
            handler.flush()
        with self.log_file.open("rb") as f:
            f.seek(self.offset)
            written = f.read().decode("utf-8")
        return written + self.console.getvalue()


def _handlers() -> set[logging.Handler]:
    names = ("dicom_transfer", "authentication", "destinations", "dicom_api", "django")
    return {handler for name in names for handler in logging.getLogger(name).handlers}


@pytest.fixture
def captured() -> Iterator[Captured]:
    """The real handlers; the console one writes to a buffer for the test."""
    capture = Captured()
    consoles = [
        h
        for h in _handlers()
        if type(h) is logging.StreamHandler  # the file handler is a subclass
    ]
    assert consoles, "the LOGGING setting has a console handler"
    previous = [h.setStream(capture.console) for h in consoles]
    try:
        yield capture
    finally:
        for handler, stream in zip(consoles, previous, strict=True):
            handler.setStream(stream)


def assert_clean(text: str) -> None:
    assert "\r" not in text and "\x1b" not in text and "\x07" not in text
    for line in text.splitlines():
        # Every line is one record of the format (a traceback would be indented or "Traceback").
        assert _LINE.match(line) or line.startswith((" ", "Traceback", "During handling")), line
        assert not line.startswith("2026-01-01 00:00:00,000"), line


def test_hostile_text_through_the_api_never_reaches_a_log_line_raw(
    client_admin: APIClient, client_user: APIClient, captured: Captured
) -> None:
    # An AE title and a description with CR/LF and ANSI escapes.
    response = client_admin.post(
        "/api/destinations/", {"name": "PACS", "ae_title": f"AE{HOSTILE}", "host": "127.0.0.1"}, format="json"
    )
    assert response.status_code == 400
    response = client_admin.post(
        "/api/destinations/",
        {"name": "PACS", "ae_title": "PACS", "host": "127.0.0.1", "description": HOSTILE},
        format="json",
    )
    assert response.status_code == 201
    url = f"/api/destinations/{response.json()['id']}/"
    assert client_admin.patch(url, {"description": HOSTILE}, format="json").status_code == 200
    # A file name with escapes, an instance whose series description has CR/LF and escapes.
    hostile_name = "scan\x1b[2J\x0bname.dcm"
    files = [upload(hostile_name, instance(SeriesDescription="CT\r\nforged\x1b[31m")), upload("junk.txt", b"x" * 200)]
    assert client_user.post("/api/dicom/import/", {"files": files}).status_code == 201
    # A refused archive: its name is in the answer and the audit entry, never in the log.
    with_name = "secret-file-name\x1b[31m.zip"
    bomb = zip_bytes({"zeros.dcm": bytes(300 * 1024**2 // 100)})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "ZIP_MAX_RATIO", 2)
        response = client_user.post("/api/dicom/import/", {"files": [upload(with_name, bomb)]})
    assert response.status_code == 413
    # A URL path with CR/LF and escapes (Django's request logger reports the 404).
    assert client_user.get("/api/destinations/%0D%0Aforged%1B%5B31m/").status_code == 404
    # And a careless log call of tomorrow, through our own logger: escaped by the handlers' filter.
    logging.getLogger("dicom_api.views").warning("client sent %s", HOSTILE)

    text = captured.text()
    assert "forged line" in text and "\\x1b[31m" in text  # it got there, escaped
    assert_clean(text)
    assert "secret-file-name" not in text
    assert "scan" not in text
