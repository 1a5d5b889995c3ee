"""Destination changes for the audit trail, announced, not written, by this app.

As ``authentication/audit.py`` does for accounts: the audit trail belongs to ``dicom_api``, which
records what this app announces with ``destination_event`` (``dicom_api.audit.
record_destination_event``, connected in ``DicomApiConfig.ready``). The receiver runs in the
caller's transaction, so a change and its entry are committed together; an event nobody recorded
is an error, never a silent gap in the audit trail.

An entry names the destination (the audit trail's snapshot of it) and holds its settings, or the
changed ones before and after. Secrets and certificates are never in it: of the password or token,
the PEM texts and the TLS client key, only which were replaced.
"""

from __future__ import annotations

import enum
from typing import Any

from django.dispatch import Signal
from django.http import HttpRequest

from authentication.audit import AuditNotRecordedError
from destinations.models import Destination

destination_event = Signal()


class DestinationAction(enum.StrEnum):
    """The audit actions of this app (values of ``dicom_api.models.Action``)."""

    CREATE = "destination_create"
    UPDATE = "destination_update"
    DELETE = "destination_delete"


# What an entry shows of a destination, value for value.
AUDITED = (
    "name",
    "kind",
    "ae_title",
    "host",
    "port",
    "url",
    "description",
    "enabled",
    "verify",
    "transfer_syntax_policy",
    "lossy_allowed",
    "deidentification",
    "max_associations",
    "auth_type",
    "auth_username",
    "tls_profile",
)
# What it only says was replaced: secrets and certificates.
REPLACED_ONLY = ("auth_secret", "ca_certificate", "tls_ca_certificates", "tls_client_certificate")


def settings_of(destination: Destination) -> dict[str, Any]:
    return {name: getattr(destination, name) for name in AUDITED}


def secrets_of(destination: Destination) -> dict[str, Any]:
    """The values an entry never shows, to tell which were replaced."""
    return {name: getattr(destination, name) for name in REPLACED_ONLY}


def changes_between(
    before: dict[str, Any], after: dict[str, Any], secrets_before: dict[str, Any], secrets_after: dict[str, Any]
) -> dict[str, Any]:
    """``{"changes": {field: [before, after]}, "replaced": [field, ...]}``, each only if not empty."""
    details: dict[str, Any] = {}
    changes = {name: [before[name], after[name]] for name in AUDITED if before[name] != after[name]}
    if changes:
        details["changes"] = changes
    replaced = sorted(name for name in REPLACED_ONLY if secrets_before[name] != secrets_after[name])
    if replaced:
        details["replaced"] = replaced
    return details


def announce(
    action: DestinationAction,
    *,
    actor: Any,
    request: HttpRequest | None,
    destination: Destination,
    details: dict[str, Any],
) -> None:
    """Have the audit trail record a change of ``destination`` by ``actor``."""
    responses = destination_event.send(
        sender=DestinationAction,
        action=action.value,
        user=actor,
        request=request,
        destination=destination,
        details=details,
    )
    if not responses:
        raise AuditNotRecordedError(f"no audit trail recorded the destination event {action.value!r}")
