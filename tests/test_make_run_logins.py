"""The login throttle under `make run`'s defaults (issue 21, "Done when"): SQLite, two gunicorn
processes of four threads. 40 wrong API logins at once get at most the limit (10) evaluated and
never a 500; 12 wrong passwords on `/admin/login/`, as a browser posts its form, are throttled
and audited; the API and the admin share one count."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.make_run_support import Running, login, make_run

pytestmark = pytest.mark.slow

WRONG = "Wrong username or password, or the account is inactive."
WRONG_FOR_ADMIN = "Wrong username or password, or not an active staff account."


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with make_run(tmp_path_factory, WEB_PROCESSES="2") as run:
        yield run


def _account(run: Running, username: str, *, role: str = "operator") -> None:
    status, body = run.json(
        "POST",
        "/api/auth/users/",
        {"username": username, "password": f"a-first-password-of-{username}", "role": role},
        token=login(run),
    )
    assert status == 201, body


def _failed_logins(run: Running, username: str) -> list[tuple[str, str]]:
    rows = run.query(
        "SELECT l.error_message, l.details FROM dicom_api_transferlog l JOIN auth_user u ON u.id = l.user_id "
        "WHERE l.action = 'login' AND l.status = 'failed' AND u.username = ?",
        username,
    )
    return [(message, details) for message, details in rows]


def test_40_concurrent_wrong_api_logins_get_at_most_the_limit_evaluated(running: Running) -> None:
    _account(running, "burst")
    answers: list[int] = []
    start = threading.Barrier(40)

    def attempt() -> None:
        start.wait()
        status, _ = running.json("POST", "/api/auth/login/", {"username": "burst", "password": "wrong"})
        answers.append(status)

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [401] * 10 + [429] * 30
    evaluated = [message for message, _ in _failed_logins(running, "burst") if message == WRONG]
    assert len(evaluated) == 10
    # Two web processes took the burst, each counting in the one SQLite database.
    assert len(_children_of(running.web_pid())) == 2


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class AdminBrowser:
    """The Django admin's sign-in form, posted with its CSRF token and cookie, as a browser does."""

    def __init__(self, run: Running) -> None:
        self.run = run
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )

    def sign_in(self, username: str, password: str) -> tuple[int, str, dict[str, str]]:
        with self.opener.open(self.run.base + "/admin/login/?next=/admin/", timeout=30) as page:
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
        assert csrf, "the admin's sign-in page has no CSRF token"
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": csrf[1], "username": username, "password": password, "next": "/admin/"}
        ).encode()
        request = urllib.request.Request(self.run.base + "/admin/login/?next=/admin/", data=form)  # noqa: S310
        request.add_header("Referer", self.run.base + "/admin/login/")
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 302 is the answer itself (a successful sign-in)


def test_12_wrong_passwords_on_the_admin_login_are_throttled_and_audited(running: Running) -> None:
    _account(running, "keeper", role="admin")
    browser = AdminBrowser(running)
    answers = [browser.sign_in("keeper", "wrong")[0] for _ in range(12)]
    assert answers == [200] * 10 + [429] * 2
    failed = _failed_logins(running, "keeper")
    assert [message for message, _ in failed].count(WRONG_FOR_ADMIN) == 10
    assert sum(1 for message, _ in failed if message.startswith("Throttled")) == 1
    assert all('"via": "admin"' in details for _, details in failed)
    # The right password waits too; the API shares the count.
    status, page, headers = browser.sign_in("keeper", "a-first-password-of-keeper")
    assert status == 429 and "Try again in" in page and int(headers["Retry-After"]) > 0
    assert running.json("POST", "/api/auth/login/", {"username": "keeper", "password": "x"})[0] == 429
