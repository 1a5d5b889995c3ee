"""C-ECHO with DCMTK's ``echoscu``: the only code that runs it.

``echo(...)`` answers an ``EchoResult`` whatever happens (it never raises for a network or DCMTK
failure); a rejected association comes with its ``Rejection`` (result, source, reason) as data.
Success is judged from echoscu's output, not from its exit code alone (it exits 0 when
storescp, say, answers without a Success status too). What echoscu 3.6.7 prints, measured against
storescp, Orthanc 1.10.1 and silent listeners on loopback (all on stderr, with ``--verbose``)::

    ok           I: Received Echo Response (Success)
    refused      F: Association Request Failed: 0006:031c TCP Initialization Error: Connection refused
    unknown host F: Association Request Failed: 0006:0320 Attempt to connect to unknown host: <host>
    no TCP       F: Association Request Failed: 0006:031c TCP Initialization Error: Operation now in
                    progress (Timeout)                                     (after --timeout s)
    no answer    F: Association Request Failed: 0006:031a DUL network read timeout   (after --acse-timeout s)
    rejected     F: Association Rejected:
                 F: Result: Rejected Permanent, Source: Service User
                 F: Reason: Called AE Title Not Recognized
    busy         F: Result: Rejected Transient, Source: Service Provider (Presentation Related)
                 F: Reason: Local Limit Exceeded        (pynetdicom's ``maximum_associations``)
    IPv6 literal F: Association Request Failed: 0006:030c Illegal service parameter: ::1:104

DCMTK 3.6.7 reads the peer address with ``sscanf("%[^:]:%d")``, so an IPv6 address can never work
(``0:0:0:0:0:0:0:1`` even connects to host ``0``); we answer UNSUPPORTED without running it.
"""

from __future__ import annotations

import enum
import logging
import re
import subprocess
import time
from dataclasses import dataclass, field

from dicomnet import programs
from dicomnet.addresses import AddressError, is_ipv6_address
from dicomnet.association import (
    Association,
    AssociationRequest,
    NetworkFailure,
    Rejection,
    last_failure,
    network_failure,
    parse_rejection,
)
from dicomnet.tls import TlsOptions, check_server, dcmtk_tls_failure

logger = logging.getLogger(__name__)

SUCCESS_LINE = "Received Echo Response (Success)"
# Added to the sum of the timeouts we give echoscu before we kill it ourselves.
KILL_MARGIN_SECONDS = 5.0
_OUTPUT_KEPT = 4000

_ECHO_RESPONSE = re.compile(r"Received Echo Response \(([^)]*)\)")


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
    TLS = "tls"  # the server's certificate does not verify, or the TLS handshake was refused
    OTHER = "other"


_CATEGORY_OF = {
    NetworkFailure.REFUSED: EchoCategory.REFUSED,
    NetworkFailure.HOST_NOT_FOUND: EchoCategory.HOST_NOT_FOUND,
    NetworkFailure.TIMEOUT: EchoCategory.TIMEOUT,
    NetworkFailure.UNREACHABLE: EchoCategory.UNREACHABLE,
    NetworkFailure.ABORTED: EchoCategory.ABORTED,
}


@dataclass(frozen=True)
class EchoResult:
    success: bool
    category: EchoCategory
    message: str
    duration_ms: int
    # echoscu's own diagnostics (network and DCMTK messages; never patient data), for the audit.
    output: str = field(default="", repr=False)
    # Why the peer rejected the association (category REJECTED), as data.
    rejection: Rejection | None = None


def echoscu_command(*, program: str, checked: Association, tls: TlsOptions | None = None) -> list[str]:
    """echoscu's argument list: our options and the checked values, host and port last."""
    secure = tls.options() if tls is not None else []
    return [program, "--verbose", *checked.options(), *secure, checked.peer.host, str(checked.peer.port)]


def echo(request: AssociationRequest, *, program: str, tls: TlsOptions | None = None) -> EchoResult:
    """Send a C-ECHO to the peer of ``request`` and say, for a person, how it went.

    ``program`` is echoscu's name (looked up on PATH) or path; the timeouts are rounded up to
    whole seconds (``programs.whole_seconds``). With ``tls``, the server's certificate is checked
    first (``tls.check_server``: chain, dates and host name) and the C-ECHO goes over TLS.
    """
    started = time.monotonic()

    def result(
        category: EchoCategory, message: str, output: str = "", rejection: Rejection | None = None
    ) -> EchoResult:
        duration_ms = round((time.monotonic() - started) * 1000)
        logger.debug("C-ECHO finished: %s in %d ms", category.value, duration_ms)
        return EchoResult(
            category == EchoCategory.OK, category, message, duration_ms, output[-_OUTPUT_KEPT:], rejection
        )

    try:
        executable = programs.resolve(program)
    except programs.DcmtkNotFoundError as e:
        return result(EchoCategory.NOT_INSTALLED, str(e))
    try:
        checked = request.checked()
    except AddressError as e:
        return result(EchoCategory.INVALID, f"Not tested, {e}")
    except ValueError as e:
        return result(EchoCategory.INVALID, f"Not tested: {e}.")
    if is_ipv6_address(checked.peer.host):
        return result(
            EchoCategory.UNSUPPORTED,
            "Not tested: DCMTK 3.6.7 (echoscu, storescu) can't connect to an IPv6 address. "
            "Give the destination a host name or an IPv4 address instead.",
        )

    if tls is not None:
        problem = check_server(host=checked.peer.host, port=checked.peer.port, tls=tls, timeout=checked.connect_timeout)
        if problem is not None:
            return result(EchoCategory.TLS, problem.message, f"TLS check: {problem.problem.value}")
    limit = checked.patience + KILL_MARGIN_SECONDS
    try:
        completed = subprocess.run(
            echoscu_command(program=executable, checked=checked, tls=tls),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=limit,
            env=programs.child_environment(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return result(
            EchoCategory.TIMEOUT,
            f"No answer from {checked.peer.where} within {limit:.0f} s; echoscu was stopped. A firewall may be "
            "dropping the traffic, or the peer is overloaded.",
        )
    except OSError as e:
        return result(EchoCategory.NOT_INSTALLED, f"echoscu could not be started ({e.strerror}); check DCMTK.")
    output = (completed.stdout + completed.stderr).strip()
    tls_failure = dcmtk_tls_failure(output, tls=tls, where=checked.peer.where) if tls is not None else None
    if tls_failure is not None and _ECHO_RESPONSE.search(output) is None:
        return result(EchoCategory.TLS, tls_failure.message, output)
    category, message = interpret(output, returncode=completed.returncode, checked=checked)
    return result(category, message, output, parse_rejection(output) if category is EchoCategory.REJECTED else None)


def interpret(output: str, *, returncode: int, checked: Association) -> tuple[EchoCategory, str]:
    """The category and the message for a person of one echoscu run, from what it printed."""
    where = checked.peer.where
    response = _ECHO_RESPONSE.search(output)
    if response is not None:
        if response.group(0) == SUCCESS_LINE:
            return EchoCategory.OK, f"The DICOM service {checked.peer.called_ae!r} at {where} answered the C-ECHO."
        return (
            EchoCategory.OTHER,
            f"The peer at {where} answered the C-ECHO with status {response.group(1)!r} instead of Success.",
        )
    rejection = parse_rejection(output)
    if rejection is not None:
        return EchoCategory.REJECTED, rejection_message(rejection, checked)
    failure = network_failure(output)
    category = _CATEGORY_OF.get(failure, EchoCategory.OTHER) if failure is not None else EchoCategory.OTHER
    if category is EchoCategory.REFUSED:
        return (
            category,
            f"Connection refused: nothing accepts connections at {where}. Is the DICOM service running and "
            "the port right?",
        )
    if category is EchoCategory.HOST_NOT_FOUND:
        return (
            category,
            f"Host not found: {checked.peer.host!r} could not be resolved. Check the host name (or use the IP "
            "address).",
        )
    if category is EchoCategory.TIMEOUT:
        return (
            category,
            f"No answer from {where} in time: {last_failure(output)}. Check that the host and port are those of "
            "a DICOM service and that no firewall drops the traffic.",
        )
    if category is EchoCategory.UNREACHABLE:
        return (
            category,
            f"{where} can't be reached from this server ({last_failure(output)}). Check the network and firewalls.",
        )
    if category is EchoCategory.ABORTED:
        return (
            category,
            f"The peer at {where} aborted the association ({last_failure(output)}). Check its logs and its "
            "configuration for this server.",
        )
    return (
        EchoCategory.OTHER,
        f"The C-ECHO to {where} failed (echoscu exit code {returncode}): {last_failure(output)}.",
    )


def rejection_message(rejection: Rejection, checked: Association) -> str:
    """What a rejection means, for a person, with what to check."""
    reason = rejection.reason or "no reason given"
    return (
        f"The peer at {checked.peer.where} rejected the association: {reason} "
        f"(Rejected {rejection.result.value.capitalize()}). " + _rejection_advice(rejection, checked)
    )


def _rejection_advice(rejection: Rejection, checked: Association) -> str:
    lowered = rejection.reason.lower()
    if "called ae title not recognized" in lowered:
        return (
            f"The peer does not know the AE title {checked.peer.called_ae!r}: check the destination's AE title "
            "(it must be the peer's own AE title)."
        )
    if "calling ae title not recognized" in lowered:
        return (
            f"The peer does not accept this server's AE title {checked.peer.calling_ae!r}: register it "
            "(with this server's address) in the peer's list of DICOM nodes."
        )
    if rejection.transient or "congestion" in lowered or "limit exceeded" in lowered:
        return "The peer is busy; try again in a moment."
    return "Check the peer's configuration for this server's AE title and address."
