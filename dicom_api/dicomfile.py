"""Reading the header of one uploaded file, guarded: any failure is a ``DicomFileError`` with a short reason.

pydicom is asked for the few attributes the import needs, header only. Two hostile inputs need
more than ``stop_before_pixels``:

* Deflated Explicit VR Little Endian: pydicom 3.0.2 inflates the whole data set into memory before
  reading it, so a 1 MB file can grow to gigabytes. We inflate it ourselves with a bound
  (``DICOM_MAX_INFLATED_HEADER_BYTES``) and refuse the file beyond it.
* Deeply nested sequences make pydicom recurse until ``RecursionError``; that becomes an error of
  this file only. Sequences of defined length are skipped by pydicom however deep they nest, but
  DCMTK parses every level at each send: ``sequence_depth`` walks the element headers and refuses
  a file nested more than 32 deep.

Truncated files are refused too: a file whose pixel data (or any value) runs past its end would
fail later, when it is sent.
"""

from __future__ import annotations

import datetime
import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from django.conf import settings
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_dataset, read_partial
from pydicom.tag import BaseTag
from pydicom.uid import UID

from dicom_api.dicom_extent import EXPLICIT_VRS, ExtentError, check_pixel_data
from dicom_api.sequence_depth import MAX_SEQUENCE_DEPTH, sequences_nest_deeper_than

DEFLATED_TRANSFER_SYNTAX = "1.2.840.10008.1.2.1.99"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR
_PIXEL_DATA_TAGS = {0x7FE00008, 0x7FE00009, 0x7FE00010}

# The attributes we keep; everything else is skipped without being read.
_TAGS: list[BaseTag | int] = [
    0x00080005,  # Specific Character Set (needed to decode the names)
    0x00080016,  # SOP Class UID
    0x00080018,  # SOP Instance UID
    0x00080020,  # Study Date
    0x00080021,  # Series Date
    0x00080030,  # Study Time
    0x00080031,  # Series Time
    0x00080050,  # Accession Number
    0x00080060,  # Modality
    0x00080080,  # Institution Name
    0x00080090,  # Referring Physician's Name
    0x00081030,  # Study Description
    0x0008103E,  # Series Description
    0x00100010,  # Patient's Name
    0x00100020,  # Patient ID
    0x00100030,  # Patient's Birth Date
    0x00100040,  # Patient's Sex
    0x00180015,  # Body Part Examined
    0x0020000D,  # Study Instance UID
    0x0020000E,  # Series Instance UID
    0x00200011,  # Series Number
    0x00200013,  # Instance Number
]
_INFLATE_STEP = 1024 * 1024  # input read and output taken per step when inflating
_DEFER_BYTES = 4096  # values larger than this are skipped, never read into memory
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_UID_LOOSE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class DicomFileError(Exception):
    """This file can't be imported; the message is a short reason a person understands."""


class NotDicomError(DicomFileError):
    pass


class DicomDirectoryError(DicomFileError):
    pass


@dataclass(frozen=True)
class InstanceHeader:
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    study_instance_uid: str
    series_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: datetime.date | None
    study_description: str
    accession_number: str
    series_number: int | None
    series_description: str
    modality: str
    instance_number: int | None
    # What staff confirm the patient and the series by (shown beside them, never used to group).
    patient_birth_date: datetime.date | None = None
    patient_sex: str = ""
    study_time: datetime.time | None = None
    referring_physician_name: str = ""
    institution_name: str = ""
    series_date: datetime.date | None = None
    series_time: datetime.time | None = None
    body_part_examined: str = ""


def uid_is_valid(value: str, *, strict: bool = False) -> bool:
    """A UID per PS3.5 9.1: at most 64 characters, numeric components separated by dots.

    ``strict`` also refuses leading zeros in components; real archives contain such UIDs and
    they are harmless to us (a UID never becomes a path), so the import accepts them.
    """
    if not value or len(value) > 64:
        return False
    return bool((_UID if strict else _UID_LOOSE).match(value))


class _TrackedFile(io.RawIOBase):
    """A read-only file that notes when the parser reads or seeks past the end (a truncated file)."""

    def __init__(self, raw: BinaryIO, size: int, name: str) -> None:
        super().__init__()
        self._raw = raw
        self.size = size
        self.name = name
        self.overran = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        data = self._raw.read(-1 if n is None else n)
        if n is not None and n > 0 and len(data) < n and (data or n > 8):
            # A partial value, or a value missing entirely (a header read of <= 8 bytes that
            # finds nothing is the normal end of a data set).
            self.overran = True
        return data

    def read_untracked(self, n: int) -> bytes:
        """Read on without judging: the caller reads to the end in chunks."""
        return self._raw.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._raw.seek(offset, whence)
        if position > self.size:
            self.overran = True
        return position

    def tell(self) -> int:
        return self._raw.tell()


def sniff(head: bytes) -> bool:
    """Whether the first 132 bytes look like DICOM: a Part 10 preamble, or a bare data set."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    if head[:2] in (b"\x00\x02", b"\x00\x08"):  # big endian (retired): explicit VR only
        return head[4:6] in EXPLICIT_VRS
    if head[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    # Explicit VR (two upper-case letters of a known VR) or implicit VR with a sane length.
    return head[4:6] in EXPLICIT_VRS or struct.unpack("<I", head[4:8])[0] < 0x10000


def read_header(path: Path) -> InstanceHeader:
    """Read the header of the DICOM file at ``path``; raises ``DicomFileError`` for anything else."""
    size = path.stat().st_size
    if size == 0:
        raise NotDicomError("empty file")
    try:
        with path.open("rb") as raw, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            head = raw.read(132)
            if not sniff(head):
                raise NotDicomError("not a DICOM file")
            raw.seek(0)
            fp = _TrackedFile(raw, size, path.name)
            dataset, meta = _parse(fp, has_preamble=head[128:132] == b"DICM")
            if fp.overran or any("End of file" in str(w.message) for w in caught):
                raise DicomFileError("truncated or damaged DICOM file")
            return _header(dataset, meta)
    except DicomFileError:
        raise
    except ExtentError as e:
        raise DicomFileError(str(e)) from None
    except RecursionError:
        raise DicomFileError("DICOM data set is nested too deeply") from None
    except MemoryError:
        raise DicomFileError("DICOM header is too large to read") from None
    except Exception as e:  # any parser failure of this file is this file's error only
        raise DicomFileError("damaged DICOM file (its header could not be read)") from e


def _parse(fp: _TrackedFile, *, has_preamble: bool) -> tuple[Dataset, Dataset]:
    pixel: dict[str, int] = {}

    def stop(tag: BaseTag, vr: str | None, length: int) -> bool:
        if tag >= 0x7FE00008:
            if int(tag) in _PIXEL_DATA_TAGS:
                pixel["length"] = length
            return True
        return False

    fp.seek(132 if has_preamble else 0)
    meta = _read_file_meta_info(cast(BinaryIO, fp))
    after_meta = fp.tell()
    if str(meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY:
        raise DicomDirectoryError("DICOMDIR (a media directory, not an image): skipped")
    transfer_syntax = str(meta.get("TransferSyntaxUID", ""))
    if transfer_syntax == DEFLATED_TRANSFER_SYNTAX:
        inflated = _inflate_bounded(fp, settings.DICOM_MAX_INFLATED_HEADER_BYTES)
        tracked = _TrackedFile(cast(BinaryIO, inflated), len(inflated.getbuffer()), "")
        dataset = read_dataset(
            cast(BinaryIO, tracked),
            is_implicit_VR=False,
            is_little_endian=True,
            stop_when=stop,
            defer_size=_DEFER_BYTES,
            specific_tags=_TAGS,
        )
        if tracked.overran:
            raise DicomFileError("truncated or damaged DICOM file")
        check_pixel_data(cast(BinaryIO, inflated), pixel, little_endian=True)
        _check_depth(cast(BinaryIO, inflated), 0, len(inflated.getbuffer()), implicit_vr=False, little_endian=True)
        return dataset, meta
    syntax = UID(transfer_syntax)
    if syntax.is_transfer_syntax and not syntax.is_deflated:
        # The meta header is read: go on from here (read_partial would read it a second time).
        little_endian = syntax.is_little_endian
        dataset = read_dataset(
            cast(BinaryIO, fp),
            is_implicit_VR=syntax.is_implicit_VR,
            is_little_endian=little_endian,
            stop_when=stop,
            defer_size=_DEFER_BYTES,
            specific_tags=_TAGS,
        )
        check_pixel_data(cast(BinaryIO, fp), pixel, little_endian=little_endian)
        _check_depth(fp, after_meta, fp.size, implicit_vr=syntax.is_implicit_VR, little_endian=little_endian)
        return dataset, meta
    # No meta header, or a transfer syntax pydicom does not know: let it guess the encoding.
    fp.seek(0)
    dataset = read_partial(cast(BinaryIO, fp), stop_when=stop, defer_size=_DEFER_BYTES, force=True, specific_tags=_TAGS)
    implicit_vr, little_endian = (bool(flag) for flag in dataset.original_encoding)
    check_pixel_data(cast(BinaryIO, fp), pixel, little_endian=little_endian)
    _check_depth(fp, after_meta, fp.size, implicit_vr=implicit_vr, little_endian=little_endian)
    return dataset, meta


def _check_depth(fp: BinaryIO | _TrackedFile, start: int, end: int, *, implicit_vr: bool, little_endian: bool) -> None:
    """Refuse sequences nested deeper than DCMTK should ever be asked to parse (``sequence_depth``)."""
    overran = getattr(fp, "overran", False)  # the walk's reads are not the parser's: keep its verdict
    deep = sequences_nest_deeper_than(
        cast(BinaryIO, fp), start=start, end=end, implicit_vr=implicit_vr, little_endian=little_endian
    )
    if isinstance(fp, _TrackedFile):
        fp.overran = overran
    if deep:
        raise DicomFileError(f"DICOM data set is nested too deeply (sequences more than {MAX_SEQUENCE_DEPTH} deep)")


def _inflate_bounded(fp: _TrackedFile, limit: int) -> io.BytesIO:
    """Inflate the rest of ``fp`` (raw deflate) into memory, refusing more than ``limit`` bytes.

    Output is taken 1 MiB at a time: one large ``decompress`` call would hold the inflated data
    twice (the returned bytes and the buffer), doubling the memory a bomb costs.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = io.BytesIO()
    pending = b""
    while True:
        if not pending:
            pending = fp.read_untracked(_INFLATE_STEP)
            if not pending:
                break
        out.write(inflater.decompress(pending, _INFLATE_STEP))
        pending = inflater.unconsumed_tail
        if out.tell() > limit:
            raise DicomFileError(f"deflated DICOM data set inflates to more than {limit // (1024 * 1024)} MB: refused")
        if inflater.eof:
            break
    out.write(inflater.flush())
    if out.tell() > limit:
        raise DicomFileError(f"deflated DICOM data set inflates to more than {limit // (1024 * 1024)} MB: refused")
    out.seek(0)
    return out


# Character sets whose bytes decode as Latin-1 (ASCII is a subset): the values of such a data set
# are decoded directly from the raw bytes, which costs a tenth of pydicom's conversion.
_LATIN1_CHARSETS = {"", "ISO_IR 6", "ISO_IR 100", "ISO 2022 IR 6", "ISO 2022 IR 100"}
# Value representations that never depend on the character set.
_ASCII_VRS = {"UI", "CS", "DA", "IS", "AE", "DS", "TM", "DT", "AS"}


def _raw_text(dataset: Dataset, keyword: str) -> str | None:
    """The value as text straight from the raw bytes, or None when pydicom must convert it."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return None
    element = dataset.get_item(tag, keep_deferred=True)
    if element is None:
        return ""
    if not isinstance(element, RawDataElement):
        return None  # already converted by pydicom
    if element.value is None:
        return ""  # empty, or larger than _DEFER_BYTES: no field of ours is that long
    if element.VR not in _ASCII_VRS:  # (None in implicit VR: check the character set)
        charset = dataset.get_item(0x00080005, keep_deferred=True)
        if charset is not None:
            if not isinstance(charset, RawDataElement) or charset.value is None:
                return None
            if charset.value.decode("latin-1").strip(" \x00") not in _LATIN1_CHARSETS:
                return None
    return bytes(element.value).decode("latin-1")


def _text(dataset: Dataset, keyword: str, max_length: int) -> str:
    text = _raw_text(dataset, keyword)
    if text is None:
        try:
            value = dataset.get(keyword)
        except Exception:
            return ""
        if value is None:
            return ""
        # Multi-valued: keep them all, DICOM style.
        text = "\\".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    # PostgreSQL text can't hold NUL; control characters have no business in these fields.
    text = "".join(ch for ch in text if ch >= " " and ch != "\x7f").strip()
    return text[:max_length]


def _integer(dataset: Dataset, keyword: str) -> int | None:
    """An IS value (the first of several), or None when absent or not a number."""
    text = _text(dataset, keyword, 64).split("\\")[0].strip()
    try:
        number = int(text)
    except ValueError:
        try:
            number = int(float(text))  # "3.0" is seen in the wild
        except (ValueError, OverflowError):
            return None
    return number if -(2**31) <= number < 2**31 else None


def _date(dataset: Dataset, keyword: str) -> datetime.date | None:
    text = _text(dataset, keyword, 64)
    try:
        return datetime.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


def _time(dataset: Dataset, keyword: str) -> datetime.time | None:
    """A TM value (``HHMMSS.FFFFFF``, minutes and seconds optional; ACR-NEMA's ``HH:MM:SS`` too), to the second."""
    text = _text(dataset, keyword, 64).split("\\")[0].split(".")[0].replace(":", "").strip()
    if len(text) not in (2, 4, 6) or not text.isdigit():
        return None
    hour, minute, second = int(text[0:2]), int(text[2:4] or 0), int(text[4:6] or 0)
    if hour > 23 or minute > 59 or second > 60:
        return None
    return datetime.time(hour, minute, min(second, 59))  # 60: a leap second


def _uid(dataset: Dataset, keyword: str, label: str) -> str:
    value = _text(dataset, keyword, 1000).rstrip("\x00 ")
    if not value:
        raise DicomFileError(f"missing {label}")
    if not uid_is_valid(value):
        raise DicomFileError(f"invalid {label}")
    return value


def _header(dataset: Dataset, meta: Dataset) -> InstanceHeader:
    sop_instance_uid = _uid(dataset, "SOPInstanceUID", "SOP Instance UID")
    if not _text(dataset, "SOPClassUID", 64) and not _text(meta, "MediaStorageSOPClassUID", 64):
        raise DicomFileError("missing SOP Class UID")
    sop_class_uid = _text(dataset, "SOPClassUID", 64) or _text(meta, "MediaStorageSOPClassUID", 64)
    if not uid_is_valid(sop_class_uid):
        raise DicomFileError("invalid SOP Class UID")
    transfer_syntax_uid = _text(meta, "TransferSyntaxUID", 64)
    if transfer_syntax_uid and not uid_is_valid(transfer_syntax_uid):
        transfer_syntax_uid = ""
    return InstanceHeader(
        sop_instance_uid=sop_instance_uid,
        study_instance_uid=_uid(dataset, "StudyInstanceUID", "Study Instance UID"),
        series_instance_uid=_uid(dataset, "SeriesInstanceUID", "Series Instance UID"),
        sop_class_uid=sop_class_uid,
        transfer_syntax_uid=transfer_syntax_uid,
        patient_id=_text(dataset, "PatientID", 64),
        patient_name=_text(dataset, "PatientName", 324),
        study_date=_date(dataset, "StudyDate"),
        study_description=_text(dataset, "StudyDescription", 64),
        accession_number=_text(dataset, "AccessionNumber", 16),
        series_number=_integer(dataset, "SeriesNumber"),
        series_description=_text(dataset, "SeriesDescription", 64),
        modality=_text(dataset, "Modality", 16),
        instance_number=_integer(dataset, "InstanceNumber"),
        patient_birth_date=_date(dataset, "PatientBirthDate"),
        patient_sex=_text(dataset, "PatientSex", 16),
        study_time=_time(dataset, "StudyTime"),
        referring_physician_name=_text(dataset, "ReferringPhysicianName", 324),
        institution_name=_text(dataset, "InstitutionName", 64),
        series_date=_date(dataset, "SeriesDate"),
        series_time=_time(dataset, "SeriesTime"),
        body_part_examined=_text(dataset, "BodyPartExamined", 16),
    )
