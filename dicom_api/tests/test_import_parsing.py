"""The guarded header parse (dicom_api.dicomfile) against hostile files, with memory bounded."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from django.conf import settings

from dicom_api.dicomfile import DicomFileError, read_header, uid_is_valid
from testsupport.dicom_data import deeply_nested, deflated_instance, instance


def test_a_deflate_bomb_is_refused_with_memory_bounded(deflate_bomb: Path) -> None:
    assert deflate_bomb.stat().st_size < 2 * 1024**2
    tracemalloc.start()
    try:
        with pytest.raises(DicomFileError, match="inflates to more than 64 MB"):
            read_header(deflate_bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * settings.DICOM_MAX_INFLATED_HEADER_BYTES  # not the gigabyte pydicom would take


def test_a_smaller_inflation_limit_applies(tmp_path: Path, settings: object) -> None:
    path = tmp_path / "d.dcm"
    path.write_bytes(deflated_instance())
    assert read_header(path).transfer_syntax_uid == "1.2.840.10008.1.2.1.99"
    settings.DICOM_MAX_INFLATED_HEADER_BYTES = 16  # type: ignore[attr-defined]
    with pytest.raises(DicomFileError, match="inflates"):
        read_header(path)


def test_sequences_nested_5000_deep_are_an_error_of_that_file(tmp_path: Path) -> None:
    path = tmp_path / "nested.dcm"
    path.write_bytes(deeply_nested(5000))
    with pytest.raises(DicomFileError, match="nested too deeply"):
        read_header(path)
    # ...and the parser still works afterwards.
    good = tmp_path / "good.dcm"
    good.write_bytes(instance())
    assert read_header(good).patient_id == "P-1"


@pytest.mark.parametrize("explicit_vr", [False, True], ids=["implicit", "explicit"])
def test_sequences_of_defined_lengths_nested_5000_deep_are_refused_too(tmp_path: Path, explicit_vr: bool) -> None:
    # pydicom skips a defined-length sequence whole; DCMTK would parse all 5,000 levels at every send.
    path = tmp_path / "nested.dcm"
    path.write_bytes(deeply_nested(5000, defined_lengths=True, explicit_vr=explicit_vr))
    with pytest.raises(DicomFileError, match=r"nested too deeply \(sequences more than 32 deep\)"):
        read_header(path)


@pytest.mark.parametrize("explicit_vr", [False, True], ids=["implicit", "explicit"])
@pytest.mark.parametrize("defined_lengths", [False, True], ids=["delimited", "defined"])
def test_sequences_nested_as_deep_as_the_limit_import(tmp_path: Path, explicit_vr: bool, defined_lengths: bool) -> None:
    path = tmp_path / "nested.dcm"
    path.write_bytes(deeply_nested(32, defined_lengths=defined_lengths, explicit_vr=explicit_vr))
    assert read_header(path).sop_instance_uid
    path.write_bytes(deeply_nested(33, defined_lengths=defined_lengths, explicit_vr=explicit_vr))
    with pytest.raises(DicomFileError, match="nested too deeply"):
        read_header(path)


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI", "ignore:The value length")
def test_invalid_uids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.dcm"
    path.write_bytes(instance(sop_instance_uid="1.2.3.abc"))
    with pytest.raises(DicomFileError, match="invalid SOP Instance UID"):
        read_header(path)
    path.write_bytes(instance(series_instance_uid="1." + "2" * 70))
    with pytest.raises(DicomFileError, match="invalid Series Instance UID"):
        read_header(path)


def test_uid_validation() -> None:
    assert uid_is_valid("1.2.840.10008.1.2.1")
    assert uid_is_valid("1.2.04", strict=False) and not uid_is_valid("1.2.04", strict=True)
    for bad in ("", "1..2", ".1", "1.2.", "1.2/../3", "1.2\x00", "1." + "1" * 63):
        assert not uid_is_valid(bad)


def test_text_fields_lose_nul_and_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(instance(patient_id="AB\x00C\x1b", StudyDescription="line\nbreak"))
    header = read_header(path)
    assert header.patient_id == "ABC"
    assert header.study_description == "linebreak"
