"""Generated DICOM files and archives for the import tests (pydicom writes them; nothing is downloaded)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import dcmwrite, write_dataset, write_file_meta_info
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

DEFLATED = "1.2.840.10008.1.2.1.99"


def instance(
    *,
    sop_instance_uid: str | None = None,
    study_instance_uid: str = "1.2.3.4",
    series_instance_uid: str = "1.2.3.4.1",
    patient_id: str = "P-1",
    patient_name: str = "Doe^Jane",
    modality: str = "CT",
    series_number: int = 1,
    instance_number: int = 1,
    study_date: str = "20240131",
    pixel_bytes: int = 64 * 64 * 2,
    preamble: bool = True,
    **extra: Any,
) -> bytes:
    """One CT instance as the bytes of a DICOM file (Part 10, or a bare data set without preamble)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.StudyDate = study_date
    ds.AccessionNumber = "ACC-1"
    ds.Modality = modality
    ds.StudyDescription = "Chest"
    ds.SeriesDescription = f"Series {series_number}"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_instance_uid
    ds.SeriesInstanceUID = series_instance_uid
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    ds.Rows, ds.Columns = 64, pixel_bytes // 128 or 1
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(pixel_bytes)
    buffer = io.BytesIO()
    if preamble:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dcmwrite(buffer, ds, enforce_file_format=True)
    else:
        dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    return buffer.getvalue()


@dataclass
class Series:
    study_instance_uid: str
    series_instance_uid: str
    files: dict[str, bytes] = field(default_factory=dict)  # name -> bytes


def series(count: int, *, series_number: int = 1, study_instance_uid: str | None = None, **fields: Any) -> Series:
    study = study_instance_uid or generate_uid()
    result = Series(study_instance_uid=study, series_instance_uid=generate_uid())
    for n in range(1, count + 1):
        result.files[f"s{series_number}_{n:04d}.dcm"] = instance(
            study_instance_uid=study,
            series_instance_uid=result.series_instance_uid,
            series_number=series_number,
            instance_number=n,
            **fields,
        )
    return result


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def zip_bytes(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=zipfile.ZIP_DEFLATED)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0x20
            info.create_system = 3
            archive.writestr(info, target)
    return buffer.getvalue()


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


def _part10(transfer_syntax: str, body: bytes, sop_instance_uid: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = transfer_syntax
    fp = DicomBytesIO()
    fp.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    return fp.getvalue() + body


def _explicit_le(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, ds)
    return fp.getvalue()


def _uids_dataset(sop_instance_uid: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_instance_uid
    ds.PatientID = "P-DEFLATE"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    return ds


def deflate_bomb(path: Path, *, inflated_bytes: int = 1024**3) -> Path:
    """A Deflated Explicit VR Little Endian file of ~1 MB whose data set inflates to ``inflated_bytes``."""
    sop = generate_uid()
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    pixel_header = b"\xe0\x7f\x10\x00OB\x00\x00" + struct.pack("<I", inflated_bytes)
    head = compressor.compress(_explicit_le(_uids_dataset(sop)) + pixel_header) + compressor.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the compressor starts afresh, so one compressed block of zeros can be repeated.
    zeros = 16 * 1024**2
    block = compressor.compress(bytes(zeros)) + compressor.flush(zlib.Z_FULL_FLUSH)
    parts = [head, block * (inflated_bytes // zeros), compressor.flush()]
    path.write_bytes(_part10(DEFLATED, b"".join(parts), sop))
    return path


def deflated_instance() -> bytes:
    """A small, honest deflated instance: it must import."""
    sop = generate_uid()
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(_explicit_le(_uids_dataset(sop))) + compressor.flush()
    return _part10(DEFLATED, body, sop)


def deeply_nested(depth: int = 5000) -> bytes:
    """Implicit VR file whose Referenced Image Sequence nests ``depth`` levels deep."""

    def element(tag: int, value: bytes) -> bytes:
        if len(value) % 2:
            value += b"\x00"
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value

    sop = generate_uid()
    head = element(0x00080016, CTImageStorage.encode()) + element(0x00080018, sop.encode())
    opening = struct.pack("<HHI", 0x0008, 0x1140, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    tail = element(0x0020000D, generate_uid().encode()) + element(0x0020000E, generate_uid().encode())
    return _part10(ImplicitVRLittleEndian, head + opening * depth + closing * depth + tail, sop)
