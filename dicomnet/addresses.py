"""What a peer's address may be: AE title, host and port, as DCMTK can take them safely.

Plain functions raising ``AddressError`` (a ``ValueError``), used right before a value goes on a
DCMTK command line; the destinations app wraps them for its forms and serializers. DCMTK reads an
argument beginning with ``-`` or ``+`` as an option and one beginning with ``@`` as a file of
arguments to include, so no value we pass may start with one of them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

AE_TITLE_MAX_LENGTH = 16
PORT_MIN = 1
PORT_MAX = 65535
HOST_MAX_LENGTH = 253
# DCMTK would read these as an option (-, +) or as a file of arguments to include (@).
FORBIDDEN_FIRST_CHARACTERS = ("-", "+", "@")

_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_IPV6_CHARACTERS = re.compile(r"[0-9A-Fa-f:.]+")


class AddressError(ValueError):
    """A value that is no valid AE title, host or port.

    ``messages`` are sentences for a person; ``code`` is one of ``invalid``, ``blank``,
    ``max_length`` (Django's codes, so the wrappers keep them); ``problems`` names, for an error
    about several values (``checked_peer``), the messages of each.
    """

    def __init__(self, message: str, *, code: str = "invalid", problems: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.problems = dict(problems or {})
        self.messages = [m for ms in self.problems.values() for m in ms] if problems else [message]

    @classmethod
    def every(cls, errors: list[AddressError]) -> AddressError:
        """One error naming every problem of one value (``messages`` has each sentence; the code
        is the first problem's)."""
        if len(errors) == 1:
            return errors[0]
        error = cls(" ".join(str(e) for e in errors), code=errors[0].code)
        error.messages = [m for e in errors for m in e.messages]
        return error


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise AddressError(f"The {what} must be a string.")
    return value


def clean_ae_title(value: str) -> str:
    """The AE title as stored: surrounding spaces removed, then checked (see ``validate_ae_title``)."""
    cleaned = _text(value, "AE title").strip(" ")
    validate_ae_title(cleaned)
    return cleaned


def validate_ae_title(value: str) -> None:
    """An AE title per DICOM PS3.5 (VR AE), which DCMTK can't mistake for an option.

    1-16 characters of the default character repertoire (printable ASCII), no backslash, no
    control characters, not only spaces; leading and trailing spaces are not significant.
    """
    significant = _text(value, "AE title").strip(" ")
    if not significant:
        raise AddressError("The AE title is empty or only spaces; give 1 to 16 characters.", code="blank")
    # Every problem at once: a title both too long and with a backslash names both.
    errors: list[AddressError] = []
    if len(significant) > AE_TITLE_MAX_LENGTH:
        errors.append(
            AddressError(
                f"The AE title has {len(significant)} characters; DICOM allows at most {AE_TITLE_MAX_LENGTH}.",
                code="max_length",
            )
        )
    if "\\" in significant:
        errors.append(AddressError("The AE title may not contain a backslash (\\)."))
    outside = sorted({character for character in significant if not " " <= character <= "~"})
    if outside:
        errors.append(
            AddressError(
                "The AE title may only contain printable ASCII characters; "
                f"{', '.join(repr(c) for c in outside)} {'is' if len(outside) == 1 else 'are'} not allowed "
                "(no control characters, no letters outside ASCII)."
            )
        )
    if significant.startswith(FORBIDDEN_FIRST_CHARACTERS):
        errors.append(
            AddressError(
                "The AE title may not begin with '-', '+' or '@' (DCMTK would read it as an option or a file)."
            )
        )
    if errors:
        raise AddressError.every(errors)


def clean_host(value: str) -> str:
    """The host as stored: surrounding spaces removed, then checked (see ``validate_host``)."""
    cleaned = _text(value, "host").strip(" ")
    validate_host(cleaned)
    return cleaned


def validate_host(value: str) -> None:
    """A host name (RFC 1123), an IPv4 address in dotted form, or an IPv6 address (no zone, no brackets)."""
    if not _text(value, "host"):
        raise AddressError("The host is empty; give a host name or an IP address.", code="blank")
    # Every problem at once (e.g. a leading '-' and an invalid name).
    errors: list[AddressError] = []
    if value.startswith(FORBIDDEN_FIRST_CHARACTERS):
        errors.append(
            AddressError("The host may not begin with '-', '+' or '@' (DCMTK would read it as an option or a file).")
        )
    format_error = _host_format_error(value)
    if format_error is not None:
        errors.append(format_error)
    if errors:
        raise AddressError.every(errors)


def _host_format_error(value: str) -> AddressError | None:
    if ":" in value:
        if _IPV6_CHARACTERS.fullmatch(value):
            try:
                ipaddress.IPv6Address(value)
                return None
            except ValueError:
                pass
        return AddressError(
            f"{value!r} is neither a host name nor an IPv6 address (the port has its own field; "
            "write an IPv6 address without brackets or zone)."
        )
    if len(value) > HOST_MAX_LENGTH:
        return AddressError(f"The host name is longer than {HOST_MAX_LENGTH} characters.", code="max_length")
    labels = value.split(".")
    if labels[-1].isdigit():
        # Only digits and dots: it means to be an IPv4 address, so it must be a valid one.
        try:
            ipaddress.IPv4Address(value)
            return None
        except ValueError:
            return AddressError(f"{value!r} is not a valid IPv4 address (four numbers 0-255 separated by dots).")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return AddressError(
            f"{value!r} is not a valid host name: each dot-separated part must be 1-63 letters, digits "
            "or hyphens, not beginning or ending with a hyphen (RFC 1123)."
        )
    return None


def validate_port(value: int) -> None:
    """A TCP port, 1-65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AddressError("The port must be a whole number.")
    if not PORT_MIN <= value <= PORT_MAX:
        raise AddressError(f"The port must be between {PORT_MIN} and {PORT_MAX}; got {value}.")


def is_ipv6_address(host: str) -> bool:
    """True for an IPv6 address literal (DCMTK 3.6.7 can't connect to those; see ``echoscu``)."""
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Peer:
    """Both ends of an association, every value checked and cleaned."""

    called_ae: str
    calling_ae: str
    host: str
    port: int

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def checked_peer(*, called_ae: str, calling_ae: str, host: str, port: int) -> Peer:
    """The peer with every value checked; ``AddressError`` names each one at fault in ``problems``."""
    problems: dict[str, list[str]] = {}

    def checked(what: str, check: Callable[[Any], Any], value: Any) -> Any:
        try:
            return check(value)
        except AddressError as e:
            problems[what] = e.messages
            return None

    called = checked("the destination's AE title", clean_ae_title, called_ae)
    calling = checked("the calling AE title", clean_ae_title, calling_ae)
    peer_host = checked("the destination's host", clean_host, host)
    checked("the destination's port", validate_port, port)
    if problems:
        summary = "; ".join(f"{what}: {' '.join(messages)}" for what, messages in problems.items())
        raise AddressError(summary, problems=problems)
    return Peer(called_ae=called, calling_ae=calling, host=peer_host, port=port)
