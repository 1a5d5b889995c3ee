"""Patient reconciliation per send: the operator sends a series "as" the patient the receiving
hospital knows (its Patient ID and issuer, the name and birth date as it holds them, its
Accession Number) — IHE Import Reconciliation Workflow, done on the way out.

The new values are applied to the staged copy of every instance sent (the stored import is never
changed). What they replaced is kept in the instance, as PS3.3 C.12.1 asks: one item of the
Original Attributes Sequence (0400,0561) per change, holding the previous values in the Modified
Attributes Sequence (0400,0550), with the date and time, the modifying system and the reason
(``COERCE``: values replaced to match another system's, the defined term for reconciliation).
Applying the same values to an instance already carrying them changes nothing, so a resumed
transfer sends exactly what the first attempt sent.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydicom import Dataset
from pydicom.sequence import Sequence

# What an operator may replace, by API field name → DICOM keyword.
FIELDS: dict[str, str] = {
    "patient_id": "PatientID",
    "issuer_of_patient_id": "IssuerOfPatientID",
    "patient_name": "PatientName",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "accession_number": "AccessionNumber",
}

REASON = "COERCE"


def current_values(dataset: Dataset) -> dict[str, str]:
    """The values of ``FIELDS`` in ``dataset`` (empty when absent), by API field name."""
    return {field: str(dataset.get(keyword, "") or "") for field, keyword in FIELDS.items()}


@dataclass(frozen=True)
class Reconciliation:
    """An ``instance_changes.InstanceChange``: set ``values`` (API field name → new value)."""

    values: dict[str, str]
    modifying_system: str
    when: datetime  # the send's time: every instance (and every attempt) records the same
    name: str = "reconciliation"

    def apply(self, dataset: Dataset) -> dict[str, Any] | None:
        old = current_values(dataset)
        changed = {field: value for field, value in self.values.items() if old[field] != value}
        if not changed:
            return None
        previous = Dataset()
        for field in changed:
            keyword = FIELDS[field]
            if keyword in dataset:
                previous[keyword] = copy.deepcopy(dataset[keyword])  # not the element changed below
            else:
                setattr(previous, keyword, "")  # absent before: kept with no value
            setattr(dataset, keyword, changed[field])
        item = Dataset()
        item.ModifiedAttributesSequence = Sequence([previous])
        item.AttributeModificationDateTime = self.when.strftime("%Y%m%d%H%M%S")
        item.ModifyingSystem = self.modifying_system[:64]
        item.SourceOfPreviousValues = ""  # type 2: the sending site's own values, no issuer to name
        item.ReasonForTheAttributeModification = REASON
        if "OriginalAttributesSequence" not in dataset:
            dataset.OriginalAttributesSequence = Sequence()
        dataset.OriginalAttributesSequence.append(item)
        return {"changed": sorted(changed)}

    def settle(self) -> None:
        """Nothing to write: the transfer already holds the values (``send_as``)."""
