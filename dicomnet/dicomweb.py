"""A DICOMweb service as we talk to it over HTTP(S), with httpx: where it is, how we authenticate,
which CA we trust, and how its failures read for a person.

The bottom layer, like the DCMTK wrappers: no Django, no settings. Callers pass a ``WebTarget``
and get typed results. STOW-RS (sending) is ``dicomnet.stow``; here are what sending, the
connection test (``probe``: QIDO-RS ``{url}/studies?limit=1``, which changes nothing) and the
verification (``find_series_instances``: QIDO-RS at instance level) share.

Secrets (a password, a token, the CA's PEM) never appear in a ``repr``, a message or a log line:
messages name the URL (which holds no credentials: the destination's validation refuses a URL
with a user or password in it) and the HTTP status.
"""

from __future__ import annotations

import base64
import enum
import errno
import hashlib
import ipaddress
import logging
import re
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx

from dicomnet.addresses import AddressError, validate_host
from dicomnet.cfind import FindResult
from dicomnet.echoscu import EchoCategory, EchoResult

logger = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
SOP_INSTANCE_UID = "00080018"
_QIDO_PAGE = 1000


class AuthType(enum.StrEnum):
    NONE = "none"
    BASIC = "basic"
    BEARER = "bearer"


@dataclass(frozen=True)
class WebAuth:
    type: AuthType = AuthType.NONE
    username: str = ""
    secret: str = field(default="", repr=False)  # the password (basic) or the token (bearer)

    def headers(self) -> dict[str, str]:
        if self.type is AuthType.BEARER:
            return {"Authorization": f"Bearer {self.secret}"}
        return {}

    def httpx_auth(self) -> httpx.Auth | None:
        if self.type is AuthType.BASIC:
            return httpx.BasicAuth(self.username, self.secret)
        return None


@dataclass(frozen=True)
class WebTarget:
    """A DICOMweb service: ``url`` is its base (STOW-RS at ``{url}/studies``), without a trailing
    slash; ``ca_pem`` the certificate(s) to trust for HTTPS instead of the system's (certifi's)."""

    url: str
    auth: WebAuth = field(default_factory=WebAuth)
    ca_pem: str = field(default="", repr=False)
    connect_timeout: float = 10.0
    timeout: float = 120.0  # reading an answer, or writing a chunk of a request

    def client(self) -> httpx.Client:
        verify: ssl.SSLContext | bool = True
        if self.ca_pem:
            verify = ssl.create_default_context(cadata=self.ca_pem)
        return httpx.Client(
            auth=self.auth.httpx_auth(),
            headers={"User-Agent": "dicom-transfer", **self.auth.headers()},
            verify=verify,
            timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
            follow_redirects=False,
            trust_env=False,  # no proxy or .netrc from the environment: what is configured is what is used
        )


class Problem(enum.Enum):
    """Why a request got no usable answer."""

    REFUSED = "refused"  # nothing accepts connections
    HOST_NOT_FOUND = "host_not_found"
    UNREACHABLE = "unreachable"
    TLS = "tls"  # the certificate was not trusted, or the TLS handshake failed
    TIMEOUT = "timeout"
    BROKEN = "broken"  # the connection broke, or the server answered something that is not HTTP


@dataclass(frozen=True)
class RequestError:
    problem: Problem
    message: str  # for a person, naming the URL


def request_error(e: httpx.HTTPError, url: str) -> RequestError:
    """What a failed request means, from httpx's exception and what it wraps."""
    where = _origin(url)
    if isinstance(e, httpx.TimeoutException):
        what = "connecting" if isinstance(e, httpx.ConnectTimeout) else "waiting for its answer"
        return RequestError(Problem.TIMEOUT, f"{where} did not answer in time ({what}).")
    cause = _root_cause(e)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return RequestError(
            Problem.TLS,
            f"The HTTPS certificate of {where} is not trusted ({cause.verify_message}): upload the CA "
            "certificate that signed it to the destination, or check the URL's host name.",
        )
    if isinstance(cause, ssl.SSLError):
        return RequestError(
            Problem.TLS, f"The TLS handshake with {where} failed ({cause.reason or cause}): is it an https:// service?"
        )
    if isinstance(cause, socket.gaierror) or (isinstance(e, httpx.ConnectError) and "Name or service" in str(e)):
        return RequestError(Problem.HOST_NOT_FOUND, f"The host name of {where} could not be resolved: check the URL.")
    if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
        return RequestError(
            Problem.REFUSED,
            f"Nothing accepts connections at {where}: is the DICOMweb service running, is the URL right?",
        )
    if isinstance(e, httpx.ConnectError):
        return RequestError(Problem.UNREACHABLE, f"{where} can't be reached ({_short(cause)}).")
    return RequestError(Problem.BROKEN, f"The connection to {where} broke ({_short(cause)}).")


def _root_cause(e: BaseException) -> BaseException:
    seen = e
    while True:
        inner = seen.__cause__ or seen.__context__
        if inner is None or inner is seen:
            return seen
        seen = inner


def _short(e: BaseException) -> str:
    return (str(e) or type(e).__name__)[:200]


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


def http_status_message(status: int, url: str, *, what: str) -> str:
    """A sentence for a refusal of the whole request (``what``: "STOW-RS", "QIDO-RS")."""
    if status == 401:
        return "The server refused our credentials (401): check the destination's username and password, or token."
    if status == 403:
        return (
            "The server refused access (403): our account is not allowed to do this; ask the archive's administrator."
        )
    if status in (404, 405):
        return (
            f"No {what} service answers at {url} ({status}): check the destination's URL, the DICOMweb base "
            "(for example https://host/dicom-web)."
        )
    if status == 413:
        return "The server refused a request as too large (413): lower DICOMWEB_BATCH_BYTES."
    if status == 415:
        return f"The server does not accept what we sent ({status}: unsupported media type)."
    if 300 <= status < 400:
        return f"The server redirects {url} ({status}): put the address it redirects to in the destination."
    if status == 429:
        return "The server asks us to slow down (429)."
    if status == 503:
        return "The server is unavailable for now (503)."
    if status >= 500:
        return f"The server failed ({status})."
    return f"The server refused the request ({status})."


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` (a number of seconds or an HTTP date); None if absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_list(response: httpx.Response) -> list[dict[str, Any]] | None:
    if response.status_code == 204 or not response.content.strip():
        return []
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, list) and all(isinstance(item, dict) for item in body) else None


def probe(target: WebTarget) -> EchoResult:
    """Whether ``target`` answers QIDO-RS and accepts our credentials, with a request that changes
    nothing (``GET {url}/studies?limit=1``), said for a person."""
    started = time.monotonic()

    def result(category: EchoCategory, message: str, output: str = "") -> EchoResult:
        return EchoResult(
            category is EchoCategory.OK, category, message, round((time.monotonic() - started) * 1000), output
        )

    url = f"{target.url}/studies"
    try:
        with target.client() as client:
            response = client.get(url, params={"limit": "1"}, headers={"Accept": DICOM_JSON})
    except httpx.HTTPError as e:
        error = request_error(e, target.url)
        return result(_CATEGORY_OF[error.problem], error.message, _short(_root_cause(e)))
    except ssl.SSLError as e:  # a CA that is not a certificate (the destination's validation checks it)
        return result(EchoCategory.INVALID, f"Not tested: the destination's CA certificate can't be used ({e.reason}).")
    status = response.status_code
    output = f"HTTP {status} {response.headers.get('Content-Type', '')}".strip()
    if status in (200, 204):
        if _json_list(response) is None:
            return result(
                EchoCategory.UNSUPPORTED,
                f"{url} answered, but not as a DICOMweb server does (no DICOM JSON): check the destination's URL.",
                output,
            )
        credentials = "" if target.auth.type is AuthType.NONE else " and accepts our credentials"
        return result(EchoCategory.OK, f"{_origin(target.url)} answers DICOMweb (QIDO-RS){credentials}.", output)
    if status in (401, 403):
        return result(EchoCategory.REJECTED, http_status_message(status, url, what="QIDO-RS"), output)
    if status in (404, 405) or 300 <= status < 400:
        return result(EchoCategory.UNSUPPORTED, http_status_message(status, url, what="QIDO-RS"), output)
    if 400 <= status < 500 and status not in (408, 429):
        return result(
            EchoCategory.UNSUPPORTED,
            f"{url} refused a QIDO-RS query ({status}): it is not a DICOMweb server there; check the "
            "destination's URL, the DICOMweb base (for example https://host/dicom-web).",
            output,
        )
    return result(EchoCategory.OTHER, http_status_message(status, url, what="QIDO-RS"), output)


_CATEGORY_OF = {
    Problem.REFUSED: EchoCategory.REFUSED,
    Problem.HOST_NOT_FOUND: EchoCategory.HOST_NOT_FOUND,
    Problem.UNREACHABLE: EchoCategory.UNREACHABLE,
    Problem.TLS: EchoCategory.TLS,
    Problem.TIMEOUT: EchoCategory.TIMEOUT,
    Problem.BROKEN: EchoCategory.ABORTED,
}


def find_series_instances(target: WebTarget, *, study_instance_uid: str, series_instance_uid: str) -> FindResult:
    """The SOP Instance UIDs of the series that ``target`` holds, by QIDO-RS at instance level
    (``{url}/studies/{study}/series/{series}/instances``, paged with ``limit``/``offset``)."""
    url = f"{target.url}/studies/{study_instance_uid}/series/{series_instance_uid}/instances"
    found: set[str] = set()
    offset = 0
    try:
        with target.client() as client:
            while True:
                response = client.get(
                    url,
                    params={"includefield": SOP_INSTANCE_UID, "limit": str(_QIDO_PAGE), "offset": str(offset)},
                    headers={"Accept": DICOM_JSON},
                )
                if response.status_code == 404 and offset == 0:
                    return FindResult(True, frozenset())  # a series it does not hold at all
                if response.status_code not in (200, 204):
                    message = http_status_message(response.status_code, url, what="QIDO-RS")
                    return FindResult(False, message=message, reached=response.status_code not in (429, 503))
                page = _json_list(response)
                if page is None:
                    return FindResult(False, message=f"{url} did not answer with DICOM JSON.")
                before = len(found)
                for item in page:
                    values = item.get(SOP_INSTANCE_UID, {}).get("Value") or []
                    found.update(str(value) for value in values)
                # A server that ignores limit/offset answers everything at once: stop when a page adds nothing.
                if len(page) < _QIDO_PAGE or len(found) == before:
                    return FindResult(True, frozenset(found))
                offset += len(page)
    except httpx.HTTPError as e:
        return FindResult(False, message=request_error(e, target.url).message, reached=False)


# --- Checks of what a destination stores (the destination's validation wraps them) ---------------

_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----")
CA_PEM_MAX_CHARS = 64 * 1024


def clean_url(value: str) -> str:
    """The DICOMweb base as stored: ``http(s)://host[:port][/path]``, no trailing slash; no user or
    password (they belong in the destination's auth, which is never answered), query or fragment."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise AddressError("The URL is empty; give the DICOMweb base, e.g. https://pacs.example.org/dicom-web.")
    if len(text) > 2000 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise AddressError("The URL is longer than 2000 characters or contains spaces or control characters.")
    parts = urllib.parse.urlsplit(text)
    problems = []
    if parts.scheme.lower() not in ("http", "https"):
        problems.append("The URL must begin with https:// (or http://).")
    if parts.username is not None or parts.password is not None:
        problems.append("The URL may not hold a user name or password: give them in the destination's auth.")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        problems.append("The URL may not have a query (?...) or a fragment (#...): give the DICOMweb base only.")
    try:
        port = parts.port
    except ValueError:
        problems.append("The URL's port must be a number from 1 to 65535.")
        port = None
    if port == 0:
        problems.append("The URL's port must be a number from 1 to 65535.")
    if not parts.hostname:
        problems.append("The URL has no host.")
    else:
        try:
            validate_host(parts.hostname)
        except AddressError as e:
            problems += [f"The URL's host: {message}" for message in e.messages]
    if problems:
        error = AddressError(problems[0])
        error.messages = problems
        raise error
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", ""))


def url_host_port(url: str) -> tuple[str, int]:
    """The host and port a (cleaned) URL connects to."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def is_loopback_url(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ca_fingerprints(pem: str) -> list[str]:
    """The SHA-256 fingerprints (hex) of the certificates of a PEM; raises ``AddressError`` when it
    holds none, holds a private key, or can't be used as the CA to trust."""
    if len(pem) > CA_PEM_MAX_CHARS:
        raise AddressError(f"The CA certificate is longer than {CA_PEM_MAX_CHARS // 1024} KiB.")
    if "PRIVATE KEY" in pem:
        raise AddressError("That PEM holds a private key: upload only the CA's certificate (never a key).")
    blocks = _PEM_CERTIFICATE.findall(pem)
    if not blocks:
        raise AddressError("The CA certificate must be PEM text (-----BEGIN CERTIFICATE----- ...).")
    try:
        ssl.create_default_context(cadata=pem)
        ders = [base64.b64decode("".join(block.split()), validate=True) for block in blocks]
    except (ssl.SSLError, ValueError) as e:
        raise AddressError(f"The CA certificate can't be read ({getattr(e, 'reason', None) or e}).") from None
    return [hashlib.sha256(der).hexdigest() for der in ders]
