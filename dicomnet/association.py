"""What the echoscu and dcmsend wrappers share: the checked arguments of one association, and how
DCMTK's words for a failed association are read.

Both programs take the same options for the two AE titles and the three timeouts, so one function
builds them: every user value sits where DCMTK can't take it for an option (AE titles only as
values of ``--aetitle``/``--call``; host and port come after the options, from the caller).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from dicomnet.addresses import Peer, checked_peer
from dicomnet.programs import whole_seconds


@dataclass(frozen=True)
class Association:
    """A checked peer and the timeouts, in DCMTK's whole seconds."""

    peer: Peer
    connect_timeout: int
    acse_timeout: int
    dimse_timeout: int

    @property
    def patience(self) -> int:
        """The longest DCMTK itself may wait without a word: the sum of its timeouts."""
        return self.connect_timeout + self.acse_timeout + self.dimse_timeout

    def options(self) -> list[str]:
        return [
            "--aetitle",
            self.peer.calling_ae,
            "--call",
            self.peer.called_ae,
            "--timeout",
            str(self.connect_timeout),
            "--acse-timeout",
            str(self.acse_timeout),
            "--dimse-timeout",
            str(self.dimse_timeout),
        ]


@dataclass(frozen=True)
class AssociationRequest:
    """What a caller asks for, nothing checked yet: the peer, our AE title, and timeouts in seconds."""

    called_ae: str
    host: str
    port: int
    calling_ae: str
    connect_timeout: float
    acse_timeout: float
    dimse_timeout: float

    def checked(self) -> Association:
        """Every value checked: ``AddressError`` for an address (each one at fault named),
        ``ValueError`` for a timeout that is not a positive number of seconds."""
        peer = checked_peer(called_ae=self.called_ae, calling_ae=self.calling_ae, host=self.host, port=self.port)
        return Association(
            peer,
            whole_seconds("connect timeout", self.connect_timeout),
            whole_seconds("ACSE timeout", self.acse_timeout),
            whole_seconds("DIMSE timeout", self.dimse_timeout),
        )


class NetworkFailure(enum.StrEnum):
    """Why an association could not be made or went on, as DCMTK words it."""

    REJECTED = "rejected"
    REFUSED = "refused"
    HOST_NOT_FOUND = "host_not_found"
    TIMEOUT = "timeout"
    NO_PRESENTATION_CONTEXT = "no_presentation_context"
    UNREACHABLE = "unreachable"
    ABORTED = "aborted"


_FAILURE_WORDS: tuple[tuple[NetworkFailure, tuple[str, ...]], ...] = (
    (NetworkFailure.REJECTED, ("association rejected",)),
    (NetworkFailure.REFUSED, ("connection refused",)),
    (NetworkFailure.HOST_NOT_FOUND, ("unknown host", "name or service not known")),
    (NetworkFailure.TIMEOUT, ("timeout", "timed out")),
    (NetworkFailure.NO_PRESENTATION_CONTEXT, ("no acceptable presentation context", "no presentation context")),
    (NetworkFailure.UNREACHABLE, ("no route to host", "network is unreachable", "host is unreachable")),
    (NetworkFailure.ABORTED, ("abort",)),
)


def network_failure(text: str) -> NetworkFailure | None:
    """The kind of failure DCMTK's ``text`` (one line, or all its output) describes, if any."""
    lowered = text.lower()
    for failure, words in _FAILURE_WORDS:
        if any(word in lowered for word in words):
            return failure
    return None


class RejectionResult(enum.StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"  # worth trying again later (PS3.8 9.3.4: e.g. the peer is congested)


@dataclass(frozen=True)
class Rejection:
    """Why the peer rejected the association (PS3.8 9.3.4, A-ASSOCIATE-RJ), in DCMTK's words.

    ``source`` is e.g. ``Service User``, ``Service Provider (ACSE Related)`` or ``Service Provider
    (Presentation Related)``; ``reason`` e.g. ``Called AE Title Not Recognized``, ``Temporary Congestion``,
    ``Local Limit Exceeded`` ("" when DCMTK printed none).
    """

    result: RejectionResult
    source: str
    reason: str

    @property
    def transient(self) -> bool:
        return self.result is RejectionResult.TRANSIENT


# What DCMTK 3.6.7 prints (ASC_printRejectParameters), each line behind a level prefix ("F: "):
#   Result: Rejected Transient, Source: Service Provider (Presentation Related)
#   Reason: Local Limit Exceeded
_REJECT_RESULT = re.compile(r"Result:\s*Rejected\s+(?P<result>Permanent|Transient)\s*(?:,\s*Source:\s*(?P<source>.+))?")
_REJECT_REASON = re.compile(r"Reason:\s*(?P<reason>.+)")


def parse_rejection(output: str) -> Rejection | None:
    """The rejection DCMTK reported in ``output``; None when the association was not rejected.
    A result DCMTK did not print is taken as permanent (nothing says trying again would help)."""
    if "Association Rejected" not in output:
        return None
    result = _REJECT_RESULT.search(output)
    reason = _REJECT_REASON.search(output)
    return Rejection(
        result=RejectionResult(result.group("result").lower()) if result else RejectionResult.PERMANENT,
        source=(result.group("source") or "").strip() if result else "",
        reason=reason.group("reason").strip() if reason else "",
    )


def last_failure(output: str) -> str:
    """DCMTK's last fatal or error line, without its level prefix (else its last line)."""
    for line in reversed(output.splitlines()):
        if line.startswith(("F: ", "E: ")):
            return line[3:].strip()
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
