"""C-ECHO with DCMTK's ``echoscu``: the only code that runs it.

``echo(...)`` answers an ``EchoResult`` whatever happens (it never raises for a network or DCMTK
failure). Success is judged from echoscu's output, not from its exit code alone (it exits 0 when
storescp, say, answers without a Success status too). What echoscu 3.6.7 prints, measured against
storescp, Orthanc 1.10.1 and silent listeners on loopback (all on stderr, with ``-v``)::

    ok           I: Received Echo Response (Success)
    refused      F: Association Request Failed: 0006:031c TCP Initialization Error: Connection refused
    unknown host F: Association Request Failed: 0006:0320 Attempt to connect to unknown host: <host>
    no TCP       F: Association Request Failed: 0006:031c TCP Initialization Error: Operation now in
                    progress (Timeout)                                     (after -to seconds)
    no answer    F: Association Request Failed: 0006:031a DUL network read timeout   (after -ta seconds)
    rejected     F: Association Rejected:
                 F: Result: Rejected Permanent, Source: Service User
                 F: Reason: Called AE Title Not Recognized
    IPv6 literal F: Association Request Failed: 0006:030c Illegal service parameter: ::1:104

DCMTK 3.6.7 reads the peer address with ``sscanf("%[^:]:%d")``, so an IPv6 address can never work
(``0:0:0:0:0:0:0:1`` even connects to host ``0``); we answer UNSUPPORTED without running it.
"""

from __future__ import annotations

import enum
import logging
import math
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from destinations.validators import clean_ae_title, clean_host, is_ipv6_address, validate_port
from dicom_api.dcmtk import common

logger = logging.getLogger(__name__)

SUCCESS_LINE = "Received Echo Response (Success)"
# Added to the sum of the timeouts we give echoscu before we kill it ourselves.
KILL_MARGIN_SECONDS = 5.0
_OUTPUT_KEPT = 4000

_ECHO_RESPONSE = re.compile(r"Received Echo Response \(([^)]*)\)")
_REJECT_REASON = re.compile(r"Reason:\s*(.+)")
_REJECT_RESULT = re.compile(r"Result:\s*([^,\n]+)")


class EchoCategory(enum.StrEnum):
    OK = "ok"
    REFUSED = "refused"
    HOST_NOT_FOUND = "host_not_found"
    UNREACHABLE = "unreachable"
    REJECTED = "rejected"
    ABORTED = "aborted"
    TIMEOUT = "timeout"
    NOT_INSTALLED = "not_installed"
    INVALID = "invalid"
    UNSUPPORTED = "unsupported"
    OTHER = "other"


@dataclass(frozen=True)
class EchoResult:
    success: bool
    category: EchoCategory
    message: str
    duration_ms: int
    # echoscu's own diagnostics (network and DCMTK messages; never patient data), for the audit.
    output: str = field(default="", repr=False)


def _seconds(name: str, value: float) -> str:
    """DCMTK takes whole seconds; round up so a timeout is never shorter than configured."""
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{name} must be at least 1 second, got {value!r}")
    return str(math.ceil(value))


def echoscu_command(
    *,
    program: str,
    ae_title: str,
    host: str,
    port: int,
    calling_ae: str,
    connect_timeout: float,
    acse_timeout: float,
    dimse_timeout: float,
) -> list[str]:
    """echoscu's argument list. Every user value is re-validated here and sits where DCMTK can't
    take it for an option: AE titles only as values of ``-aec``/``-aet``, host and port last.

    Raises django's ``ValidationError`` for an invalid AE title, host or port.
    """
    problems: dict[str, list[str]] = {}

    def checked(what: str, check: Callable[[Any], Any], value: Any) -> Any:
        try:
            return check(value)
        except ValidationError as e:
            problems[what] = e.messages
            return None

    called = checked("the destination's AE title", clean_ae_title, ae_title)
    calling = checked("the calling AE title (DICOM_CALLING_AE)", clean_ae_title, calling_ae)
    peer = checked("the destination's host", clean_host, host)
    checked("the destination's port", validate_port, port)
    if problems:
        raise ValidationError(problems)
    return [
        program,
        "-v",
        "-aet",
        calling,
        "-aec",
        called,
        "-to",
        _seconds("connect timeout", connect_timeout),
        "-ta",
        _seconds("ACSE timeout", acse_timeout),
        "-td",
        _seconds("DIMSE timeout", dimse_timeout),
        peer,
        str(port),
    ]


def echo(
    *,
    ae_title: str,
    host: str,
    port: int,
    calling_ae: str | None = None,
    connect_timeout: float | None = None,
    acse_timeout: float | None = None,
    dimse_timeout: float | None = None,
    program: str | None = None,
) -> EchoResult:
    """Send a C-ECHO to ``ae_title`` at ``host``:``port`` and say, for a person, how it went.

    Unset arguments come from the settings (``DICOM_CALLING_AE``, ``DICOM_*_TIMEOUT``,
    ``ECHOSCU_PATH``), read at call time.
    """
    calling = settings.DICOM_CALLING_AE if calling_ae is None else calling_ae
    connect = settings.DICOM_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
    acse = settings.DICOM_ACSE_TIMEOUT if acse_timeout is None else acse_timeout
    dimse = settings.DICOM_DIMSE_TIMEOUT if dimse_timeout is None else dimse_timeout
    started = time.monotonic()

    def result(category: EchoCategory, message: str, output: str = "") -> EchoResult:
        duration_ms = round((time.monotonic() - started) * 1000)
        logger.debug("C-ECHO finished: %s in %d ms", category.value, duration_ms)
        return EchoResult(category == EchoCategory.OK, category, message, duration_ms, output[-_OUTPUT_KEPT:])

    try:
        executable = common.resolve(settings.ECHOSCU_PATH if program is None else program)
    except common.DcmtkNotFoundError as e:
        return result(EchoCategory.NOT_INSTALLED, f"{e} (ECHOSCU_PATH)")
    try:
        command = echoscu_command(
            program=executable,
            ae_title=ae_title,
            host=host,
            port=port,
            calling_ae=calling,
            connect_timeout=connect,
            acse_timeout=acse,
            dimse_timeout=dimse,
        )
    except ValidationError as e:
        problems = "; ".join(f"{what}: {' '.join(messages)}" for what, messages in e.message_dict.items())
        return result(EchoCategory.INVALID, f"Not tested, {problems}")
    except ValueError as e:
        return result(EchoCategory.INVALID, f"Not tested: the setting {e}.")
    if is_ipv6_address(command[-2]):
        return result(
            EchoCategory.UNSUPPORTED,
            "Not tested: DCMTK 3.6.7 (echoscu, storescu) can't connect to an IPv6 address. "
            "Give the destination a host name or an IPv4 address instead.",
        )

    limit = sum(math.ceil(seconds) for seconds in (connect, acse, dimse)) + KILL_MARGIN_SECONDS
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=limit,
            env=common.child_environment(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return result(
            EchoCategory.TIMEOUT,
            f"No answer from {host}:{port} within {limit:.0f} s; echoscu was stopped. A firewall may be dropping "
            "the traffic, or the peer is overloaded.",
        )
    except OSError as e:
        return result(EchoCategory.NOT_INSTALLED, f"echoscu could not be started ({e.strerror}); check DCMTK.")
    output = (completed.stdout + completed.stderr).strip()
    category, message = interpret(
        output,
        returncode=completed.returncode,
        ae_title=command[command.index("-aec") + 1],
        calling_ae=command[command.index("-aet") + 1],
        host=host,
        port=port,
    )
    return result(category, message, output)


def interpret(
    output: str, *, returncode: int, ae_title: str, calling_ae: str, host: str, port: int
) -> tuple[EchoCategory, str]:
    """The category and the message for a person of one echoscu run, from what it printed."""
    where = f"{host}:{port}"
    response = _ECHO_RESPONSE.search(output)
    if response is not None:
        if response.group(0) == SUCCESS_LINE:
            return EchoCategory.OK, f"The DICOM service {ae_title!r} at {where} answered the C-ECHO."
        return (
            EchoCategory.OTHER,
            f"The peer at {where} answered the C-ECHO with status {response.group(1)!r} instead of Success.",
        )
    if "Association Rejected" in output:
        reason_match = _REJECT_REASON.search(output)
        result_match = _REJECT_RESULT.search(output)
        reason = reason_match.group(1).strip() if reason_match else "no reason given"
        permanence = f" ({result_match.group(1).strip()})" if result_match else ""
        return EchoCategory.REJECTED, f"The peer at {where} rejected the association: {reason}{permanence}. " + (
            _rejection_advice(reason, ae_title, calling_ae)
        )
    lowered = output.lower()
    if "connection refused" in lowered:
        return (
            EchoCategory.REFUSED,
            f"Connection refused: nothing accepts connections at {where}. Is the DICOM service running and "
            "the port right?",
        )
    if "unknown host" in lowered:
        return (
            EchoCategory.HOST_NOT_FOUND,
            f"Host not found: {host!r} could not be resolved. Check the host name (or use the IP address).",
        )
    if "timeout" in lowered or "timed out" in lowered:
        return (
            EchoCategory.TIMEOUT,
            f"No answer from {where} in time: {_last_failure(output)}. Check that the host and port are those of "
            "a DICOM service and that no firewall drops the traffic.",
        )
    if "no route to host" in lowered or "network is unreachable" in lowered or "host is unreachable" in lowered:
        return (
            EchoCategory.UNREACHABLE,
            f"{where} can't be reached from this server ({_last_failure(output)}). Check the network and firewalls.",
        )
    if "abort" in lowered:
        return (
            EchoCategory.ABORTED,
            f"The peer at {where} aborted the association ({_last_failure(output)}). Check its logs and its "
            "configuration for this server.",
        )
    return (
        EchoCategory.OTHER,
        f"The C-ECHO to {where} failed (echoscu exit code {returncode}): {_last_failure(output)}.",
    )


def _rejection_advice(reason: str, ae_title: str, calling_ae: str) -> str:
    lowered = reason.lower()
    if "called ae title not recognized" in lowered:
        return (
            f"The peer does not know the AE title {ae_title!r}: check the destination's AE title "
            "(it must be the peer's own AE title)."
        )
    if "calling ae title not recognized" in lowered:
        return (
            f"The peer does not accept this server's AE title {calling_ae!r}: register it "
            "(with this server's address) in the peer's list of DICOM nodes."
        )
    if "congestion" in lowered or "limit exceeded" in lowered:
        return "The peer is busy; try again in a moment."
    return "Check the peer's configuration for this server's AE title and address."


def _last_failure(output: str) -> str:
    """DCMTK's last fatal or error line, without its level prefix."""
    for line in reversed(output.splitlines()):
        if line.startswith(("F: ", "E: ")):
            return line[3:].strip()
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
