"""Writing destinations. (Testing one with a C-ECHO writes the audit trail, so the app that owns the
audit trail does it; see the README's layout for which way the apps depend on each other.)"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from destinations import tls as tls_files
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
)
_PEER_FIELDS = ("ae_title", "host", "port")  # another peer: what the last probe found no longer holds


def _save(destination: Destination, tls: dict[str, Any] | None = None) -> None:
    """Save; with ``tls`` (checked by the serializer: ``validated_tls``) its columns and key file too.
    The key file is written inside the transaction, so a failed write saves nothing."""
    if tls is not None:
        destination.tls_profile = tls["profile"]
        destination.tls_ca_certificates = tls["ca_certificates"]
        destination.tls_client_certificate = tls["client_certificate"]
    # The serializer checks the name first; this catches two admins saving the same name at once.
    try:
        with transaction.atomic():
            destination.save()
            if tls is not None and tls["client_key"]:
                tls_files.store_key(destination, tls["client_key"])
    except IntegrityError:
        raise InvalidInputError(f"A destination named {destination.name!r} already exists.", field="name") from None
    if tls is not None and tls["client_key"] == "":
        tls_files.remove_key(destination)


def destination_create(*, created_by: User | None, **fields: Any) -> Destination:
    """A new destination from validated ``fields`` (see ``EDITABLE_FIELDS``)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not destination fields: {sorted(unknown)}")
    tls = fields.pop("tls", None)
    destination = Destination(created_by=created_by, **fields)
    _save(destination, tls)
    logger.info("destination %s created (by user id %s)", destination.pk, getattr(created_by, "pk", None))
    return destination


def destination_update(*, destination: Destination, **fields: Any) -> Destination:
    """Change the given validated ``fields`` of ``destination``; the others stay."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not destination fields: {sorted(unknown)}")
    tls = fields.pop("tls", None)
    names = sorted([*fields, *(["tls"] if tls is not None else [])])
    if any(name in fields and fields[name] != getattr(destination, name) for name in _PEER_FIELDS):
        destination.accepted_transfer_syntaxes = None
    for name, value in fields.items():
        setattr(destination, name, value)
    _save(destination, tls)
    logger.info("destination %s updated (%s)", destination.pk, ", ".join(names) or "nothing")
    return destination


def destination_delete(*, destination: Destination) -> None:
    """Delete ``destination``. Audit entries naming it keep their snapshot; their link becomes null."""
    pk = destination.pk
    destination.delete()
    logger.info("destination %s deleted", pk)
