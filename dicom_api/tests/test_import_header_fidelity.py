"""The header reader decodes raw bytes itself where it can (speed); it must give what pydicom's own
conversion gives, character sets included, for every sample file pydicom ships."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file

from dicom_api.dicomfile import DicomFileError, read_header

ALL_SAMPLES = sorted(
    {Path(p) for p in get_charset_files("*.dcm")} | set(Path(get_testdata_file("CT_small.dcm")).parent.glob("*.dcm"))  # type: ignore[arg-type]
)


def _importable(path: Path) -> bool:
    try:
        read_header(path)
    except DicomFileError:
        return False  # refused files are covered by the import tests
    return True


SAMPLES = [path for path in ALL_SAMPLES if _importable(path)]


def test_most_samples_are_importable() -> None:
    assert len(SAMPLES) > 70
    assert any(path.name.startswith("chr") for path in SAMPLES)  # the character-set files


def _clean(value: object) -> str:
    text = "\\".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value or "")
    return "".join(ch for ch in text if ch >= " " and ch != "\x7f").strip()


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_header_fields_match_pydicoms_conversion(path: Path) -> None:
    header = read_header(path)
    dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    assert header.patient_name == _clean(dataset.get("PatientName"))[:324]
    assert header.patient_id == _clean(dataset.get("PatientID"))[:64]
    assert header.study_description == _clean(dataset.get("StudyDescription"))[:64]
    assert header.series_description == _clean(dataset.get("SeriesDescription"))[:64]
    assert header.modality == _clean(dataset.get("Modality"))[:16]
    assert header.sop_instance_uid == _clean(dataset.SOPInstanceUID)
    assert header.series_instance_uid == _clean(dataset.SeriesInstanceUID)
