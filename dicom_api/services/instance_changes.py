"""Changes made to the header of every instance a transfer sends, on its staged copy (the
stored import is never changed): patient reconciliation per send, de-identification per
destination. The staging step (transfer syntax, ``services.staging``) asks ``changes_for`` what
to apply to each instance; an instance that some change applies to is sent from a staged copy.

A change modifies the dataset in place and returns what it did, for the transfer's ledger and
audit (never logged), or None when it left the instance as it was; it raises ``HeldBack`` for an
instance that must not go to this destination at all (the transfer says which and why).
Changes are deterministic: a resumed or repeated transfer sends the same values.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pydicom import Dataset

    from destinations.models import Destination
    from dicom_api.models import TransferLog


class HeldBack(Exception):
    """This instance is not sent to this destination; ``reason`` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InstanceChange(Protocol):
    @property
    def name(self) -> str: ...

    def apply(self, dataset: Dataset) -> dict[str, Any] | None:
        """Change ``dataset`` in place (in the staging thread: no database here)."""
        ...

    def settle(self) -> None:
        """Write what ``apply`` collected (called in the sender's thread after each chunk)."""
        ...


def changes_for(*, log: TransferLog, destination: Destination) -> list[InstanceChange]:
    """The changes of this transfer to this destination, in the order they apply: the values the
    operator sent the series as (``reconciliation``), then the destination's de-identification as
    it was when the transfer was queued (kept in the transfer: every attempt applies the same)."""
    from django.conf import settings

    from dicom_api.services.reconciliation import Reconciliation

    changes: list[InstanceChange] = []
    send_as = (log.details or {}).get("send_as")
    if send_as and send_as.get("values"):
        changes.append(
            Reconciliation(
                values=dict(send_as["values"]),
                modifying_system=f"DICOM Transfer {settings.DICOM_CALLING_AE}",
                when=datetime.fromisoformat(send_as["at"]) if send_as.get("at") else log.timestamp,
            )
        )
    deidentification = (log.details or {}).get("deidentification")
    if deidentification:
        from dicom_api.services.deidentification import Deidentification
        from dicom_api.services.pseudonyms import deidentification_key, pseudonym_recorder

        changes.append(
            Deidentification(
                key=deidentification_key(),
                options=frozenset(deidentification.get("options", [])),
                record=pseudonym_recorder(log),
            )
        )
    return changes
