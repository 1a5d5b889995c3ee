"""The installation's de-identification key and the pseudonym mapping (who a pseudonym is)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.db import IntegrityError, transaction

from dicom_api.models import DeidentificationKey, PatientPseudonym, TransferLog
from dicom_api.services.deidentification import Pseudonym


def deidentification_key() -> bytes:
    """The key, made (32 random bytes) the first time any process asks."""
    row = DeidentificationKey.objects.filter(pk=1).first()
    if row is None:
        try:
            with transaction.atomic():
                row = DeidentificationKey.objects.create(pk=1, key=secrets.token_bytes(32))
        except IntegrityError:  # another process made it first: use theirs
            row = DeidentificationKey.objects.get(pk=1)
    return bytes(row.key)


def pseudonym_recorder(log: TransferLog) -> Callable[[list[Pseudonym]], None]:
    """Keep the pseudonyms of this transfer (the first transfer of a pseudonym stays its first)."""

    def record(identities: list[Pseudonym]) -> None:
        for identity in identities:
            _keep(log, identity)

    return record


def _keep(log: TransferLog, identity: Pseudonym) -> None:
    row, created = PatientPseudonym.objects.get_or_create(
        pseudonym=identity.pseudonym,
        defaults={
            "patient_id": identity.patient_id,
            "issuer_of_patient_id": identity.issuer_of_patient_id,
            "patient_name": identity.patient_name,
            "first_transfer_id": log.pk,
        },
    )
    if not created:
        row.save(update_fields=["last_used_at"])
