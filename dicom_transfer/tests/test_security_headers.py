"""HTTPS settings, the Content-Security-Policy of the admin and the API docs, and access logs that
cannot be forged (a real gunicorn)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from dicom_transfer.security import CONTENT_SECURITY_POLICY
from testsupport.peers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_admin_and_docs_pages_carry_a_content_security_policy(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY
    # No inline script: every <script> has a src (the policy would block the others).
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", response.content)


@pytest.mark.django_db
def test_the_docs_start_up_script_is_served_from_our_origin() -> None:
    page = Client().get("/api/docs/").content.decode()
    script = re.findall(r'<script src="([^"]+\?[^"]*script=[^"]*)"', page)
    assert script, page
    response = Client().get(script[0].replace("&amp;", "&"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in response.content


@pytest.mark.django_db
def test_the_web_page_keeps_its_own_stricter_policy() -> None:
    response = Client().get("/")
    assert "style-src 'self';" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_hsts_and_the_proxy_header_from_the_settings(settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    plain = client.get("/api/schema/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    # Health stays reachable over plain HTTP (a load balancer's probe).
    assert client.get("/api/health/").status_code in (200, 503)
    secure = client.get("/api/schema/", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_gunicorn_access_log_is_off_by_default_and_escapes_control_characters(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    environment.update(DEBUG="1", DATA_DIR=str(tmp_path / "data"), ENV_FILE=str(tmp_path / "no.env"))
    access_log = tmp_path / "access.log"
    gunicorn = str(Path(sys.executable).parent / "gunicorn")

    def serve(*extra: str) -> tuple[str, str]:
        port = free_port()
        output = tmp_path / f"gunicorn-{port}.out"
        with output.open("wb") as out:
            process = subprocess.Popen(
                [
                    *(gunicorn, "dicom_transfer.wsgi:application", "--config", "python:dicom_transfer.gunicorn_conf"),
                    *("--bind", f"127.0.0.1:{port}", "--workers", "1", *extra),
                ],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/x%0d%0aFORGED%201%1b[31m", timeout=1)
                except urllib.error.HTTPError:
                    break
                except OSError:
                    time.sleep(0.2)
        finally:
            process.terminate()
            process.wait(timeout=10)
        return output.read_text(), access_log.read_text() if access_log.exists() else ""

    console, _ = serve()
    assert '"GET ' not in console  # no access log unless asked for (Django's own 404 warning is escaped)
    # The format of scripts/run.sh with ACCESS_LOG=1: %(U)s is the decoded path, CR/LF/ESC included.
    _, logged = serve("--access-logfile", str(access_log), "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s')
    lines = [line for line in logged.splitlines() if "FORGED" in line]
    assert lines, logged  # (more than one when a slow first try was repeated)
    assert all("\\x0d\\x0aFORGED 1\\x1b[31m" in line for line in lines), lines
    assert not re.search(r"[\x00-\x1f\x7f]", logged.replace("\n", ""))
