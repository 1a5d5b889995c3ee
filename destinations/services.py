"""Writing destinations. (Testing one with a C-ECHO writes the audit trail, so the app that owns the
audit trail does it; see the README's layout for which way the apps depend on each other.)"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from destinations import tls as tls_files
from destinations.audit import DestinationAction, announce, changes_between, secrets_of, settings_of
from destinations.models import Destination
from dicom_transfer.exceptions import InvalidInputError

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = (
    "name",
    "ae_title",
    "host",
    "port",
    "description",
    "enabled",
    "verify",
    # issue 15: what instances are sent in
    "transfer_syntax_policy",
    "lossy_allowed",
    # issue 16: de-identification on the way out
    "deidentification",
    # issue 17: DICOM TLS
    "tls",
    # issue 17: parallel associations
    "max_associations",
    # issue 18: DICOMweb (kind "dicomweb"); the log lines below name fields, never their values.
    "kind",
    "url",
    "auth_type",
    "auth_username",
    "auth_secret",
    "ca_certificate",
)
_PEER_FIELDS = ("ae_title", "host", "port")  # another peer: what the last probe found no longer holds


def _save(destination: Destination, tls: dict[str, Any] | None = None) -> None:
    """Save the row; with ``tls`` (checked by the serializer: ``validated_tls``) its columns too.
    The key file is ``_store_key``'s, the last step of the caller's transaction."""
    if tls is not None:
        destination.tls_profile = tls["profile"]
        destination.tls_ca_certificates = tls["ca_certificates"]
        destination.tls_client_certificate = tls["client_certificate"]
    # The serializer checks the name first; this catches two admins saving the same name at once.
    try:
        with transaction.atomic():
            destination.save()
    except IntegrityError:
        raise InvalidInputError(f"A destination named {destination.name!r} already exists.", field="name") from None


def _store_key(destination: Destination, tls: dict[str, Any] | None) -> None:
    """Write (or remove) the client key file after everything else of the transaction (the row,
    its audit entry) succeeded: a failed write rolls them back, and nothing that can fail after it
    leaves a key on disk that the database does not describe (but the commit itself)."""
    if tls is not None and tls["client_key"]:
        tls_files.store_key(destination, tls["client_key"])
    elif tls is not None and tls["client_key"] == "":
        tls_files.remove_key(destination)


@transaction.atomic
def destination_create(*, created_by: User | None, request: HttpRequest | None = None, **fields: Any) -> Destination:
    """A new destination from validated ``fields`` (see ``EDITABLE_FIELDS``), audited as
    ``created_by``'s in the same transaction."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not destination fields: {sorted(unknown)}")
    tls = fields.pop("tls", None)
    destination = Destination(created_by=created_by, **fields)
    _save(destination, tls)
    replaced = sorted(name for name, value in secrets_of(destination).items() if value)
    if tls is not None and tls["client_key"]:
        replaced.append("tls_client_key")
    announce(
        DestinationAction.CREATE,
        actor=created_by,
        request=request,
        destination=destination,
        details={"settings": settings_of(destination), **({"replaced": replaced} if replaced else {})},
    )
    _store_key(destination, tls)
    logger.info("destination %s created (by user id %s)", destination.pk, getattr(created_by, "pk", None))
    return destination


@transaction.atomic
def destination_update(
    *, destination: Destination, actor: User | None, request: HttpRequest | None = None, **fields: Any
) -> Destination:
    """Change the given validated ``fields`` of ``destination``; the others stay. What changed is
    audited as ``actor``'s in the same transaction (nothing changed: no entry)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not destination fields: {sorted(unknown)}")
    tls = fields.pop("tls", None)
    before, secrets_before = settings_of(destination), secrets_of(destination)
    had_key = tls is not None and tls_files.has_client_key(destination)
    names = sorted([*fields, *(["tls"] if tls is not None else [])])
    if any(name in fields and fields[name] != getattr(destination, name) for name in _PEER_FIELDS):
        destination.accepted_transfer_syntaxes = None
    for name, value in fields.items():
        setattr(destination, name, value)
    _save(destination, tls)
    details = changes_between(before, settings_of(destination), secrets_before, secrets_of(destination))
    if tls is not None and (tls["client_key"] or (tls["client_key"] == "" and had_key)):  # a new key, or removed
        details["replaced"] = sorted([*details.get("replaced", []), "tls_client_key"])
    if details:
        announce(DestinationAction.UPDATE, actor=actor, request=request, destination=destination, details=details)
    _store_key(destination, tls)
    logger.info("destination %s updated (%s)", destination.pk, ", ".join(names) or "nothing")
    return destination


@transaction.atomic
def destination_delete(*, destination: Destination, actor: User | None, request: HttpRequest | None = None) -> None:
    """Delete ``destination``, audited as ``actor``'s with its last settings. Audit entries naming
    it keep their snapshot; their link becomes null."""
    pk = destination.pk
    announce(
        DestinationAction.DELETE,
        actor=actor,
        request=request,
        destination=destination,
        details={"settings": settings_of(destination)},
    )
    destination.delete()
    logger.info("destination %s deleted", pk)
