"""De-identification per destination: the PS3.15 Basic Application Level Confidentiality Profile
(Annex E, Table E.1-1), applied to the staged copy of every instance sent there.

The table — which attribute gets which action (D replace with a dummy, Z empty, X remove,
U replace the UID, and the combinations) — comes from ``dicom-anonymizer``'s transcription of
the current standard (``dicomfields_2026c``); the actions are ours, because they must be
deterministic per installation: replacement UIDs, the patient's pseudonym and the date shift are
keyed hashes (HMAC-SHA256) with the installation's de-identification key
(``DeidentificationKey``, one row in the database, so every worker on every machine agrees).
The same patient sent twice gets the same pseudonym, a study keeps one new Study Instance UID
across sends, and references between instances (Referenced SOP Instance UID, Frame of Reference
UID...) stay consistent because every UID is mapped by the same function wherever it appears.

Options (PS3.15 Table E.1-1's columns) a destination may choose:
``retain_longitudinal_modified_dates`` (dates shifted back by a per-patient keyed number of days,
times kept), ``retain_patient_characteristics`` (sex, age, size, weight, ethnic group, smoking
and pregnancy status kept), ``retain_device_identity`` (device serial numbers, station name,
detector and plate ids kept), ``clean_descriptors`` (study, series and image descriptions kept,
with any of the patient's names, id and birth date removed from them). Private attributes are
always removed: ``retain_safe_private`` needs the vendor list of safe private attributes, which
we do not hold, so it is refused at configuration (docs/transfers.md).

Burned-in annotation: an instance that says Burned In Annotation = YES, or that does not say
and is of a SOP class that usually carries text in its pixels (secondary capture, ultrasound),
is held back (``HeldBack``) unless the destination's options include
``allow_burned_in_annotation``: its pixels could show the patient's name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table
from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.valuerep import MAX_VALUE_LEN

from destinations.validators import DEIDENTIFICATION_OPTIONS
from dicom_api.services.instance_changes import HeldBack

PROFILE = "basic"
OPTIONS = DEIDENTIFICATION_OPTIONS

# Actions by tag, from the table; a combination resolves to the action that keeps an IOD valid
# without keeping a value: X/Z, Z/D, X/Z/D → Z (empty); X/D → D (dummy); X/Z/U* → U for UIDs.
_ACTIONS: dict[BaseTag, str] = {}
_MASKED: list[tuple[int, int, int, int, str]] = []
for _name, _action in (
    ("X_TAGS", "X"),
    ("Z_TAGS", "Z"),
    ("D_TAGS", "D"),
    ("U_TAGS", "U"),
    ("X_Z_TAGS", "Z"),
    ("Z_D_TAGS", "Z"),
    ("X_Z_D_TAGS", "Z"),
    ("X_D_TAGS", "D"),
    ("X_Z_U_STAR_TAGS", "U"),
):
    for _entry in getattr(table, _name):
        if len(_entry) == 2:
            _ACTIONS[Tag(*_entry)] = _action
        else:  # a repeating group (curves 50xx, overlays 60xx): group, element and their masks
            _MASKED.append((*_entry, _action))

PATIENT_CHARACTERISTICS = {
    Tag(t)
    for t in (
        "PatientSex",
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "EthnicGroup",
        "SmokingStatus",
        "PregnancyStatus",
        "PatientSexNeutered",
    )
}
DEVICE_IDENTITY = {
    Tag(t)
    for t in (
        "DeviceSerialNumber",
        "DeviceUID",
        "StationName",
        "DetectorID",
        "GantryID",
        "PlateID",
        "CassetteID",
        "GeneratorID",
        "DeviceLabel",
        "DeviceDescription",
        "SourceSerialNumber",
        "PerformedStationName",
        "ScheduledStationName",
    )
}
DESCRIPTORS = {
    Tag(t)
    for t in (
        "StudyDescription",
        "SeriesDescription",
        "ImageComments",
        "ProtocolName",
        "PerformedProcedureStepDescription",
        "RequestedProcedureDescription",
        "AcquisitionComments",
        "DerivationDescription",
    )
}
_KEPT = {Tag("PatientIdentityRemoved"), Tag("DeidentificationMethod"), Tag("DeidentificationMethodCodeSequence")}

# CID 7050 De-identification Method, scheme DCM.
_CODES = {
    PROFILE: ("113100", "Basic Application Confidentiality Profile"),
    "retain_longitudinal_modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
}

# SOP classes that usually carry text burned into their pixels when they do not say otherwise.
_BURNED_IN_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture, and its multi-frame family (.7.1 to .7.4)
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
)


@dataclass(frozen=True)
class Pseudonym:
    pseudonym: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str


class Deidentification:
    """An ``instance_changes.InstanceChange``: de-identify one dataset in place."""

    name = "deidentification"

    def __init__(
        self, *, key: bytes, options: frozenset[str], record: Callable[[list[Pseudonym]], None] | None = None
    ) -> None:
        self.key = key
        self.options = options
        self.record = record
        # Identities seen by ``apply`` (the staging thread), written by ``settle`` (the sender's).
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._new: list[Pseudonym] = []

    def settle(self) -> None:
        with self._lock:
            new, self._new = self._new, []
        if new and self.record is not None:
            self.record(new)

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self.key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()

    def uid(self, old: str) -> str:
        """The same new UID for the same old one, everywhere: 2.25 and a keyed 128-bit number."""
        return f"2.25.{int.from_bytes(self._digest('uid', old)[:16], 'big')}"

    def pseudonym(self, patient_id: str, issuer: str) -> str:
        return "ANON-" + self._digest("patient", f"{issuer}\x00{patient_id}").hex()[:12].upper()

    def day_shift(self, patient_key: str) -> int:
        """Days every date of this patient goes back: 1 to 3,650, the same for all their studies."""
        return 1 + int.from_bytes(self._digest("dates", patient_key)[:4], "big") % 3650

    def apply(self, dataset: Dataset) -> dict[str, Any] | None:
        burned_in = str(dataset.get("BurnedInAnnotation", "")).upper()
        sop_class = str(dataset.get("SOPClassUID", ""))
        usually_burned = burned_in == "" and sop_class.startswith(_BURNED_IN_CLASSES)
        if (burned_in == "YES" or usually_burned) and "allow_burned_in_annotation" not in self.options:
            raise HeldBack(
                "Burned In Annotation is YES: its pixels may show the patient's identity"
                if burned_in == "YES"
                else "a secondary capture or ultrasound image that does not say it has no burned-in annotation"
            )
        patient_id = str(dataset.get("PatientID", ""))
        issuer = str(dataset.get("IssuerOfPatientID", ""))
        identity = Pseudonym(
            self.pseudonym(patient_id, issuer), patient_id, issuer, str(dataset.get("PatientName", ""))
        )
        context = _Context(
            change=self,
            pseudonym=identity.pseudonym,
            shift=self.day_shift(f"{issuer}\x00{patient_id}"),
            identifying=_identifying_words(dataset),
        )
        _walk(dataset, context)
        dataset.PatientName = identity.pseudonym
        dataset.PatientID = identity.pseudonym
        dataset.PatientIdentityRemoved = "YES"
        used = [PROFILE, *sorted(o for o in self.options if o in _CODES)]
        dataset.DeidentificationMethod = "; ".join(_CODES[o][1] for o in used)[:64]
        dataset.DeidentificationMethodCodeSequence = Sequence([_code(*_CODES[o]) for o in used])
        dataset.LongitudinalTemporalInformationModified = (
            "MODIFIED" if "retain_longitudinal_modified_dates" in self.options else "REMOVED"
        )
        meta = getattr(dataset, "file_meta", None)
        if meta is not None and "SOPInstanceUID" in dataset:
            meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        with self._lock:
            if identity.pseudonym not in self._seen:
                self._seen.add(identity.pseudonym)
                self._new.append(identity)
        # The transfer's ledger keeps this: not the pseudonym, which only admins may tie to a patient.
        return {"profile": PROFILE, "options": sorted(self.options)}


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


@dataclass
class _Context:
    change: Deidentification
    pseudonym: str
    shift: int
    identifying: list[str]


def _identifying_words(dataset: Dataset) -> list[str]:
    words = {str(dataset.get("PatientID", "")), str(dataset.get("PatientBirthDate", ""))}
    for part in re.split(r"[\^= ]+", str(dataset.get("PatientName", ""))):
        words.add(part)
    return sorted((w for w in words if len(w) >= 2), key=len, reverse=True)


def _walk(dataset: Dataset, context: _Context) -> None:
    for element in list(dataset):
        tag = element.tag
        if tag.is_private:
            del dataset[tag]
            continue
        if element.VR == "SQ":
            action = action_of(tag)
            if action in (None, "U"):  # not identifying itself (U*: a reference): its items get the table
                for item in element.value or []:
                    _walk(item, context)
            elif action == "X":
                del dataset[tag]
            else:  # D or Z (e.g. the Content Sequence of an SR, free text included): emptied
                element.value = Sequence()
            continue
        _apply(dataset, element, context)


def action_of(tag: BaseTag) -> str | None:
    """Table E.1-1's action for ``tag`` (resolved as ``_ACTIONS`` says), None when not listed."""
    action = _ACTIONS.get(tag)
    if action is None:
        for group, element, group_mask, element_mask, masked in _MASKED:
            if tag.group & group_mask == group and tag.element & element_mask == element:
                return masked
    return action


def _apply(dataset: Dataset, element: DataElement, context: _Context) -> None:
    tag, options = element.tag, context.change.options
    action = action_of(tag)
    if action is None or tag in _KEPT:
        return
    if "retain_patient_characteristics" in options and tag in PATIENT_CHARACTERISTICS:
        return
    if "retain_device_identity" in options and tag in DEVICE_IDENTITY:
        return
    if "clean_descriptors" in options and tag in DESCRIPTORS:
        element.value = _cleaned(str(element.value or ""), context.identifying)
        return
    if "retain_longitudinal_modified_dates" in options and element.VR in ("DA", "DT", "TM"):
        if element.VR != "TM":  # times of day stay: the shift is whole days
            element.value = _shifted(element, context.shift)
        return
    if action == "X":
        del dataset[tag]
    elif action == "Z":
        element.value = None
    elif action == "U" and element.VR == "UI":
        values = element.value if element.VM > 1 else [element.value]
        new = [context.change.uid(str(v)) for v in values if v]
        element.value = new if element.VM > 1 else (new[0] if new else "")
    else:
        element.value = _dummy(element, context)


def _dummy(element: DataElement, context: _Context) -> Any:
    vr = element.VR
    if vr == "UI":
        return context.change.uid(str(element.value)) if element.value else ""
    if vr in ("PN", "LO", "SH", "LT", "ST", "UT", "CS", "AE", "UC", "UR"):
        dummy = context.pseudonym if vr in ("PN", "LO", "SH") else "ANONYMIZED" if vr != "CS" else "ANON"
        return dummy[: MAX_VALUE_LEN.get(vr, len(dummy))]  # the pseudonym (17) is longer than an SH (16)
    if vr == "DA":
        return "19000101"
    if vr == "DT":
        return "19000101000000"
    if vr == "TM":
        return "000000"
    if vr in ("IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
        return 0
    return None


def _shifted(element: DataElement, days: int) -> Any:
    def one(value: str) -> str:
        if len(value) < 8 or not value[:8].isdigit():
            return value
        try:
            day = date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        except ValueError:
            return value
        return (day - timedelta(days=days)).strftime("%Y%m%d") + value[8:]

    value = element.value
    if value in (None, ""):
        return value
    if element.VM > 1:
        return [one(str(v)) for v in value]
    return one(str(value))


def _cleaned(text: str, words: list[str]) -> str:
    for word in words:
        text = re.sub(re.escape(word), "", text, flags=re.IGNORECASE)
    return re.sub(r"\s{2,}", " ", text).strip()


def shifted_date(value: date, days: int) -> date:
    """What ``retain_longitudinal_modified_dates`` makes of ``value`` (for tests and the docs)."""
    return value - timedelta(days=days)
