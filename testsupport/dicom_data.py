"""The DICOM test data of every test and of bench/: generated with pydicom, nothing downloaded.

- ``instance`` builds one CT instance from scratch (bytes), ``series`` several of one series (in
  memory, for uploads), ``write_series`` writes them to files (bench/'s large series);
- ``generate_series`` writes a series on disk from one of pydicom's sample files (CT_small.dcm by
  default: a real, complete header) with fresh UIDs;
- the odd and hostile files of the import tests: ``deflated_instance``, ``deflate_bomb``,
  ``deeply_nested``, ``png_bytes``, ``zip_bytes``;
- ``upload`` wraps bytes as a multipart part, ``import_files`` imports files on disk through the
  real import service (as ``POST /api/dicom/import/`` would), for tests of what comes after.

Every generator names its instances with ``_identify``: one place sets the UIDs and the patient.
Only the standard library and pydicom are imported at module level, so bench/ can use this
module without a configured Django.
"""

from __future__ import annotations

import io
import shutil
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import dcmwrite, write_dataset, write_file_meta_info
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile

    from dicom_api.models import ImportSession

DEFLATED = "1.2.840.10008.1.2.1.99"


def _identify(
    ds: Dataset,
    *,
    sop_instance_uid: str,
    study_instance_uid: str,
    series_instance_uid: str,
    patient_id: str,
    patient_name: str,
    modality: str,
    series_description: str,
    instance_number: int,
) -> None:
    """Set what makes ``ds`` this instance of this series of this patient (file meta included)."""
    ds.SOPInstanceUID = sop_instance_uid
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    ds.StudyInstanceUID = study_instance_uid
    ds.SeriesInstanceUID = series_instance_uid
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.Modality = modality
    ds.SeriesDescription = series_description
    ds.InstanceNumber = instance_number


# --- Instances built from scratch ---------------------------------------------------------------


def instance(
    *,
    sop_instance_uid: str | None = None,
    study_instance_uid: str = "1.2.3.4",
    series_instance_uid: str = "1.2.3.4.1",
    patient_id: str = "P-1",
    patient_name: str = "Doe^Jane",
    modality: str = "CT",
    series_number: int = 1,
    series_description: str | None = None,
    instance_number: int = 1,
    study_date: str = "20240131",
    pixel_bytes: int = 64 * 64 * 2,
    pixel_data: bytes | None = None,
    rows: int = 64,
    preamble: bool = True,
    **extra: Any,
) -> bytes:
    """One CT instance of 16-bit pixels as the bytes of a DICOM file (Part 10, or a bare data set
    without preamble). ``pixel_data`` (``rows`` × columns × 2 bytes) replaces ``pixel_bytes`` of zeros;
    ``extra`` sets any other attribute by keyword."""
    pixels = bytes(pixel_bytes) if pixel_data is None else pixel_data
    ds = Dataset()
    if preamble:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    _identify(
        ds,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        study_instance_uid=study_instance_uid,
        series_instance_uid=series_instance_uid,
        patient_id=patient_id,
        patient_name=patient_name,
        modality=modality,
        series_description=series_description or f"Series {series_number}",
        instance_number=instance_number,
    )
    ds.StudyDate = study_date
    ds.AccessionNumber = "ACC-1"
    ds.StudyDescription = "Chest"
    ds.SeriesNumber = series_number
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    ds.Rows, ds.Columns = rows, len(pixels) // (rows * 2) or 1
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ds.PixelData = pixels
    buffer = io.BytesIO()
    if preamble:
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
    """``count`` instances of one new series (``fields`` as for ``instance``), named ``s<n>_<i>.dcm``."""
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


def write_series(directory: Path, count: int, *, pixel_data: bytes, rows: int, **fields: Any) -> list[Path]:
    """``series`` written to ``directory/<i>.dcm``, one instance in memory at a time (bench/'s large
    series). The first four bytes of ``pixel_data`` are the instance's index: no two files are the same."""
    directory.mkdir(parents=True, exist_ok=True)
    series_uid = fields.pop("series_instance_uid", None) or generate_uid()
    paths = []
    for index in range(count):
        path = directory / f"{index:05d}.dcm"
        path.write_bytes(
            instance(
                series_instance_uid=series_uid,
                instance_number=index + 1,
                pixel_data=index.to_bytes(4, "little") + pixel_data[4:],
                rows=rows,
                **fields,
            )
        )
        paths.append(path)
    return paths


# --- Series from a pydicom sample ----------------------------------------------------------------


@dataclass
class GeneratedSeries:
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    patient_name: str
    files: list[Path]
    sop_instance_uids: list[str]


def generate_series(
    directory: Path,
    count: int,
    *,
    patient_name: str = "DOE^JANE",
    patient_id: str = "PID-0001",
    study_instance_uid: str | None = None,
    modality: str = "CT",
    description: str = "Generated series",
    template: str = "CT_small.dcm",
    series_number: int | None = None,
    study_description: str | None = None,
    study_date: str | None = None,
) -> GeneratedSeries:
    """``count`` instances of one series, from one of pydicom's sample files with fresh UIDs."""
    directory.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(get_testdata_file(template))
    series_uid = generate_uid()
    study_uid = study_instance_uid or generate_uid()
    files, sops = [], []
    for number in range(1, count + 1):
        dataset: Dataset = base.copy()
        sop = generate_uid()
        _identify(
            dataset,
            sop_instance_uid=sop,
            study_instance_uid=study_uid,
            series_instance_uid=series_uid,
            patient_id=patient_id,
            patient_name=patient_name,
            modality=modality,
            series_description=description,
            instance_number=number,
        )
        if series_number is not None:
            dataset.SeriesNumber = series_number
        if study_description is not None:
            dataset.StudyDescription = study_description
        if study_date is not None:
            dataset.StudyDate = study_date  # YYYYMMDD
        path = directory / f"{series_uid[-12:]}-{number:05d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        files.append(path)
        sops.append(sop)
    return GeneratedSeries(series_uid, study_uid, patient_id, patient_name, files, sops)


# --- Odd and hostile files ----------------------------------------------------------------------


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    """A part of field ``files`` for ``APIClient.post``."""
    from django.core.files.uploadedfile import SimpleUploadedFile

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


def deeply_nested(depth: int = 5000, *, defined_lengths: bool = False, explicit_vr: bool = False) -> bytes:
    """A file whose Referenced Image Sequence nests ``depth`` levels deep: of undefined lengths (with
    delimiters), or of defined lengths (which a header-only parser skips whole); implicit VR unless
    ``explicit_vr``."""

    def element(tag: int, value: bytes, vr: bytes = b"UI") -> bytes:
        if len(value) % 2:
            value += b"\x00"
        if explicit_vr:
            return struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr + struct.pack("<H", len(value)) + value
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value

    def sequence_header(length: int) -> bytes:
        if explicit_vr:
            return struct.pack("<HH", 0x0008, 0x1140) + b"SQ\x00\x00" + struct.pack("<I", length)
        return struct.pack("<HHI", 0x0008, 0x1140, length)

    sop = generate_uid()
    head = element(0x00080016, CTImageStorage.encode()) + element(0x00080018, sop.encode())
    tail = element(0x0020000D, generate_uid().encode()) + element(0x0020000E, generate_uid().encode())
    if defined_lengths:
        nested = b""
        for _ in range(depth):
            item = struct.pack("<HHI", 0xFFFE, 0xE000, len(nested)) + nested
            nested = sequence_header(len(item)) + item
    else:
        opening = sequence_header(0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
        closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        nested = opening * depth + closing * depth
    syntax = ExplicitVRLittleEndian if explicit_vr else ImplicitVRLittleEndian
    return _part10(syntax, head + nested + tail, sop)


# --- Imports ------------------------------------------------------------------------------------


def import_files(owner: User, files: list[Path], *, series_override: str | None = None) -> ImportSession:
    """An import of ``files`` made by the import service itself (``import_create``), as an upload
    of them would make it; the files are copied first (the service moves what it imports).

    Every file must import: an error or a duplicate fails the calling test here rather than later
    as a missing instance. ``series_override`` puts all of the import's rows in one series of that
    UID (the files are not changed), for tests that send files of several series as one.
    """
    from django.conf import settings

    from dicom_api.services.imports import Upload, import_create

    staging = Path(tempfile.mkdtemp(prefix="import-files-", dir=settings.FILE_UPLOAD_TEMP_DIR))
    try:
        uploads = []
        for index, path in enumerate(files):
            copy = staging / f"{index:05d}"
            shutil.copyfile(path, copy)
            uploads.append(Upload(name=path.name, path=copy))
        session = import_create(owner=owner, uploads=uploads)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    assert session.errors == [], session.errors
    assert (session.instance_count, session.duplicate_count) == (len(files), 0), "every file, once"
    if series_override is not None:
        session.instances.update(series_instance_uid=series_override)
    return session


# A data element after the pixel data whose value runs past the end of the file: pydicom reads
# the header of such a file, but DCMTK reads the whole data set and refuses to send it ("Invalid
# stream"). The import refuses it too (dicom_api/dicom_extent.py).
DAMAGE_AFTER_PIXEL_DATA = b"\xfc\xff\xfc\xffOB\x00\x00\xe8\x03\x00\x00abc"


def damage(path: Path) -> None:
    """Damage a file as DCMTK sees it (``DAMAGE_AFTER_PIXEL_DATA``), as a failing disk could."""
    with path.open("ab") as file:
        file.write(DAMAGE_AFTER_PIXEL_DATA)


# --- pydicom's samples ---------------------------------------------------------------------------

# rtdose_rle*.dcm encode every element, SOP Class UID included, with the explicit VR "UN"; DCMTK
# 3.6.7 keeps them unknown and sends an instance without a usable SOP Class (a known limitation,
# written up in docs/transfers.md).
DCMTK_CANNOT_READ = {"rtdose_rle.dcm", "rtdose_rle_1frame.dcm"}


def storage_samples() -> list[Path]:
    """pydicom's bundled files that are valid storage instances, one per SOP Instance UID + syntax."""
    import warnings

    from pynetdicom import AllStoragePresentationContexts

    storage_classes = {context.abstract_syntax for context in AllStoragePresentationContexts}
    found: dict[tuple[str, str], Path] = {}
    folder = Path(get_testdata_file("CT_small.dcm")).parent  # type: ignore[arg-type]
    for path in sorted(folder.iterdir()):
        try:
            # A file whose encoding contradicts its own header (pydicom warns) is not valid.
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                dataset = pydicom.dcmread(path, stop_before_pixels=True)
            sop_class = str(dataset.file_meta.MediaStorageSOPClassUID)
            key = (str(dataset.SOPInstanceUID), str(dataset.file_meta.TransferSyntaxUID))
            _ = dataset.SeriesInstanceUID, dataset.StudyInstanceUID
        except Exception:  # noqa: S112 - not a readable DICOM instance: not a sample
            continue
        if path.name in DCMTK_CANNOT_READ:
            continue
        if sop_class in storage_classes and key not in found:
            found[key] = path
    return list(found.values())


def unique_sops(paths: list[Path]) -> list[list[Path]]:
    """``paths`` in groups where no two files share a SOP Instance UID (one import each)."""
    chunks: list[tuple[set[str], list[Path]]] = []
    for path in paths:
        sop = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        for sops, chunk in chunks:
            if sop not in sops:
                sops.add(sop)
                chunk.append(path)
                break
        else:
            chunks.append(({sop}, [path]))
    return [chunk for _, chunk in chunks]
