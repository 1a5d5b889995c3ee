"""Validation of what a destination tells DCMTK: AE title, host and port.

Plain functions raising django's ``ValidationError``, used by the API and again, as a last guard,
right before a value goes on a DCMTK command line (``dicom_api.dcmtk``). DCMTK reads an argument
beginning with ``-`` or ``+`` as an option and one beginning with ``@`` as a file of arguments to
include, so no value we pass may start with one of them.
"""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError

AE_TITLE_MAX_LENGTH = 16
PORT_MIN = 1
PORT_MAX = 65535
HOST_MAX_LENGTH = 253
# DCMTK would read these as an option (-, +) or as a file of arguments to include (@).
FORBIDDEN_FIRST_CHARACTERS = ("-", "+", "@")

_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_IPV6_CHARACTERS = re.compile(r"[0-9A-Fa-f:.]+")


def clean_ae_title(value: str) -> str:
    """The AE title as stored: surrounding spaces removed, then checked (see ``validate_ae_title``)."""
    if not isinstance(value, str):
        raise ValidationError("The AE title must be a string.", code="invalid")
    cleaned = value.strip(" ")
    validate_ae_title(cleaned)
    return cleaned


def validate_ae_title(value: str) -> None:
    """An AE title per DICOM PS3.5 (VR AE), which DCMTK can't mistake for an option.

    1-16 characters of the default character repertoire (printable ASCII), no backslash, no
    control characters, not only spaces; leading and trailing spaces are not significant.
    """
    if not isinstance(value, str):
        raise ValidationError("The AE title must be a string.", code="invalid")
    significant = value.strip(" ")
    if not significant:
        raise ValidationError("The AE title is empty or only spaces; give 1 to 16 characters.", code="blank")
    # Every problem at once: a title both too long and with a backslash names both.
    problems: list[ValidationError] = []
    if len(significant) > AE_TITLE_MAX_LENGTH:
        problems.append(
            ValidationError(
                f"The AE title has {len(significant)} characters; DICOM allows at most {AE_TITLE_MAX_LENGTH}.",
                code="max_length",
            )
        )
    if "\\" in significant:
        problems.append(ValidationError("The AE title may not contain a backslash (\\).", code="invalid"))
    outside = sorted({character for character in significant if not " " <= character <= "~"})
    if outside:
        problems.append(
            ValidationError(
                "The AE title may only contain printable ASCII characters; "
                f"{', '.join(repr(c) for c in outside)} {'is' if len(outside) == 1 else 'are'} not allowed "
                "(no control characters, no letters outside ASCII).",
                code="invalid",
            )
        )
    if significant.startswith(FORBIDDEN_FIRST_CHARACTERS):
        problems.append(
            ValidationError(
                "The AE title may not begin with '-', '+' or '@' (DCMTK would read it as an option or a file).",
                code="invalid",
            )
        )
    if problems:
        raise ValidationError(problems)


def clean_host(value: str) -> str:
    """The host as stored: surrounding spaces removed, then checked (see ``validate_host``)."""
    if not isinstance(value, str):
        raise ValidationError("The host must be a string.", code="invalid")
    cleaned = value.strip(" ")
    validate_host(cleaned)
    return cleaned


def validate_host(value: str) -> None:
    """A host name (RFC 1123), an IPv4 address in dotted form, or an IPv6 address (no zone, no brackets)."""
    if not isinstance(value, str):
        raise ValidationError("The host must be a string.", code="invalid")
    if not value:
        raise ValidationError("The host is empty; give a host name or an IP address.", code="blank")
    # Every problem at once (e.g. a leading '-' and an invalid name).
    problems: list[ValidationError] = []
    if value.startswith(FORBIDDEN_FIRST_CHARACTERS):
        problems.append(
            ValidationError(
                "The host may not begin with '-', '+' or '@' (DCMTK would read it as an option or a file).",
                code="invalid",
            )
        )
    format_problem = _host_format_problem(value)
    if format_problem is not None:
        problems.append(format_problem)
    if problems:
        raise ValidationError(problems)


def _host_format_problem(value: str) -> ValidationError | None:
    if ":" in value:
        if _IPV6_CHARACTERS.fullmatch(value):
            try:
                ipaddress.IPv6Address(value)
                return None
            except ValueError:
                pass
        return ValidationError(
            f"{value!r} is neither a host name nor an IPv6 address (the port has its own field; "
            "write an IPv6 address without brackets or zone).",
            code="invalid",
        )
    if len(value) > HOST_MAX_LENGTH:
        return ValidationError(f"The host name is longer than {HOST_MAX_LENGTH} characters.", code="max_length")
    labels = value.split(".")
    if labels[-1].isdigit():
        # Only digits and dots: it means to be an IPv4 address, so it must be a valid one.
        try:
            ipaddress.IPv4Address(value)
            return None
        except ValueError:
            return ValidationError(
                f"{value!r} is not a valid IPv4 address (four numbers 0-255 separated by dots).", code="invalid"
            )
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return ValidationError(
            f"{value!r} is not a valid host name: each dot-separated part must be 1-63 letters, digits "
            "or hyphens, not beginning or ending with a hyphen (RFC 1123).",
            code="invalid",
        )
    return None


def validate_port(value: int) -> None:
    """A TCP port, 1-65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("The port must be a whole number.", code="invalid")
    if not PORT_MIN <= value <= PORT_MAX:
        raise ValidationError(f"The port must be between {PORT_MIN} and {PORT_MAX}; got {value}.", code="invalid")


def is_ipv6_address(host: str) -> bool:
    """True for an IPv6 address literal (DCMTK 3.6.7 can't connect to those; see ``dcmtk.echoscu``)."""
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True
