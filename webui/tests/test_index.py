"""The page itself: served at /, with its scripts and styles, under a strict content policy."""

from __future__ import annotations

import re
from pathlib import Path

from django.test import Client

SCRIPTS = Path(__file__).resolve().parent.parent / "static" / "webui" / "js"


def test_it_serves_the_page_without_authentication(db: None) -> None:
    response = Client().get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script type="module" src="/static/webui/js/app.js"></script>' in html
    assert 'id="login-form"' in html
    # No inline script: the content security policy forbids it.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "no-cache" in response["Cache-Control"]


def test_its_scripts_and_styles_are_served(db: None) -> None:
    client = Client()
    for path, kind in [
        ("/static/webui/js/app.js", "javascript"),
        ("/static/webui/js/api.js", "javascript"),
        ("/static/webui/app.css", "css"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert kind in response["Content-Type"], path


def test_it_answers_only_get(db: None) -> None:
    assert Client().post("/").status_code == 405


def test_the_scripts_never_write_html(db: None) -> None:
    """Data goes into the page as text: no innerHTML, outerHTML, insertAdjacentHTML or document.write."""
    sources = {path.name: path.read_text() for path in SCRIPTS.glob("*.js")}
    assert "app.js" in sources
    for name, source in sources.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{sink} in {name}"


def test_the_refresh_token_never_reaches_local_storage(db: None) -> None:
    source = (SCRIPTS / "api.js").read_text()
    assert "localStorage.setItem" not in source
