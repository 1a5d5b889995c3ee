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

    def apply(self, dataset: Dataset) -> dict[str, Any] | None: ...


def changes_for(*, log: TransferLog, destination: Destination) -> list[InstanceChange]:
    """The changes of this transfer to this destination, in the order they apply."""
    return []
