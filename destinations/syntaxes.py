"""A destination's transfer-syntax policy: the values an admin may set (docs/transfers.md,
"Transfer syntaxes"; the rule applying it is ``dicom_api.services.syntax_policy``)."""

from __future__ import annotations

from dicom_transfer.exceptions import InvalidInputError
from dicomnet.transcode import LOSSY, TARGETS, syntax_name

AS_STORED, UNCOMPRESSED = "as-stored", "uncompressed"


def policy_clean(value: str) -> str:
    """The policy as stored, or ``InvalidInputError`` naming the values allowed."""
    value = value.strip()
    if value in (AS_STORED, UNCOMPRESSED) or value in TARGETS:
        return value
    allowed = ", ".join([AS_STORED, UNCOMPRESSED, *(f"{uid} ({syntax_name(uid)})" for uid in sorted(TARGETS))])
    if value in LOSSY:
        raise InvalidInputError(f"{syntax_name(value)} is lossy: copies are only made losslessly. One of: {allowed}.")
    raise InvalidInputError(f"{value!r} is not a transfer-syntax policy. One of: {allowed}.")
