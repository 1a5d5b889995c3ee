"""The header reader decodes raw bytes itself where it can (speed); it must give what pydicom's own
conversion gives, character sets included, for pydicom's sample files.

The samples are fixed lists (the pinned pydicom's files, by name), not chosen by the reader under
test: every file of ``IMPORTABLE`` must be read and match pydicom, every file of ``REFUSED`` must
be refused with its reason, and the two lists together must name every sample pydicom ships, so
an upgrade that adds one fails here until it is sorted into a list.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file

from dicom_api.dicomfile import DicomFileError, read_header

FOLDERS = {
    "charset_files": Path(get_charset_files("chrArab.dcm")[0]).parent,
    "test_files": Path(get_testdata_file("CT_small.dcm")).parent,  # type: ignore[arg-type]
}

CHARSET_SAMPLES = [
    "chrArab.dcm",
    "chrFren.dcm",
    "chrFrenMulti.dcm",
    "chrGerm.dcm",
    "chrGreek.dcm",
    "chrH31.dcm",
    "chrH32.dcm",
    "chrHbrw.dcm",
    "chrI2.dcm",
    "chrJapMulti.dcm",
    "chrJapMultiExplicitIR6.dcm",
    "chrKoreanMulti.dcm",
    "chrRuss.dcm",
    "chrX1.dcm",
    "chrX2.dcm",
]

TEST_FILE_SAMPLES = [
    "693_J2KI.dcm",
    "CT_small.dcm",
    "ExplVR_BigEnd.dcm",
    "ExplVR_BigEndNoMeta.dcm",
    "ExplVR_LitEndNoMeta.dcm",
    "GDCMJ2K_TextGBR.dcm",
    "J2K_pixelrep_mismatch.dcm",
    "JPEG-lossy.dcm",
    "JPEG2000-embedded-sequence-delimiter.dcm",
    "JPEG2000.dcm",
    "JPGExtended.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_implicit.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_padded.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "SC_jpeg_no_color_transform_2.dcm",
    "SC_rgb_dcmtk_+eb+cr.dcm",
    "SC_rgb_dcmtk_+eb+cy+n1.dcm",
    "SC_rgb_dcmtk_+eb+cy+n2.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "SC_rgb_dcmtk_+eb+cy+s2.dcm",
    "SC_rgb_dcmtk_+eb+cy+s4.dcm",
    "SC_rgb_gdcm_KY.dcm",
    "SC_rgb_jpeg.dcm",
    "SC_rgb_jpeg_app14_dcmd.dcm",
    "SC_rgb_jpeg_dcmd.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "SC_rgb_jpeg_lossy_gdcm.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_rle_16bit.dcm",
    "SC_rgb_rle_16bit_2frame.dcm",
    "SC_rgb_rle_2frame.dcm",
    "SC_rgb_rle_32bit.dcm",
    "SC_rgb_rle_32bit_2frame.dcm",
    "SC_rgb_small_odd.dcm",
    "SC_rgb_small_odd_big_endian.dcm",
    "SC_rgb_small_odd_jpeg.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "badVR.dcm",
    "examples_jpeg2k.dcm",
    "examples_overlay.dcm",
    "examples_palette.dcm",
    "examples_rgb_color.dcm",
    "examples_ybr_color.dcm",
    "image_dfl.dcm",
    "liver_1frame.dcm",
    "liver_expb_1frame.dcm",
    "reportsi.dcm",
    "reportsi_with_empty_number_tags.dcm",
    "rtdose.dcm",
    "rtdose_1frame.dcm",
    "rtdose_expb.dcm",
    "rtdose_expb_1frame.dcm",
    "rtdose_rle.dcm",
    "rtdose_rle_1frame.dcm",
    "rtplan.dcm",
    "rtstruct.dcm",
    "test-SR.dcm",
    "waveform_ecg.dcm",
]

IMPORTABLE = [FOLDERS["charset_files"] / name for name in CHARSET_SAMPLES] + [
    FOLDERS["test_files"] / name for name in TEST_FILE_SAMPLES
]

# (folder, file, the reason read_header gives)
REFUSED = [
    ("charset_files", "chrSQEncoding.dcm", "missing SOP Instance UID"),
    ("charset_files", "chrSQEncoding1.dcm", "missing SOP Instance UID"),
    ("test_files", "JPEGLSNearLossless_08.dcm", "missing Study Instance UID"),
    ("test_files", "JPEGLSNearLossless_16.dcm", "missing Study Instance UID"),
    ("test_files", "MR_truncated.dcm", "truncated DICOM file (its pixel data ends early)"),
    ("test_files", "SC_rgb_jls_lossy_line.dcm", "missing Study Instance UID"),
    ("test_files", "SC_rgb_jls_lossy_sample.dcm", "missing Study Instance UID"),
    ("test_files", "UN_sequence.dcm", "missing SOP Instance UID"),
    ("test_files", "empty_charset_LEI.dcm", "missing SOP Instance UID"),
    ("test_files", "meta_missing_tsyntax.dcm", "truncated or damaged DICOM file"),
    ("test_files", "nested_priv_SQ.dcm", "truncated or damaged DICOM file"),
    ("test_files", "no_meta.dcm", "not a DICOM file"),
    ("test_files", "no_meta_group_length.dcm", "missing SOP Instance UID"),
    ("test_files", "priv_SQ.dcm", "missing SOP Instance UID"),
    ("test_files", "rtplan_truncated.dcm", "truncated or damaged DICOM file"),
]


def test_the_lists_name_every_sample_pydicom_ships() -> None:
    shipped = {(folder, path.name) for folder, root in FOLDERS.items() for path in root.glob("*.dcm")}
    listed = {(path.parent.name, path.name) for path in IMPORTABLE} | {(folder, name) for folder, name, _ in REFUSED}
    assert listed == shipped


@pytest.mark.parametrize(("folder", "name", "reason"), REFUSED, ids=[name for _, name, _ in REFUSED])
def test_a_sample_without_what_an_import_needs_is_refused_with_the_reason(folder: str, name: str, reason: str) -> None:
    with pytest.raises(DicomFileError) as refused:
        read_header(FOLDERS[folder] / name)
    assert str(refused.value) == reason


def _clean(value: object) -> str:
    text = "\\".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value or "")
    return "".join(ch for ch in text if ch >= " " and ch != "\x7f").strip()


@pytest.mark.parametrize("path", IMPORTABLE, ids=lambda p: p.name)
def test_header_fields_match_pydicoms_conversion(path: Path) -> None:
    header = read_header(path)
    dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    assert header.patient_name == _clean(dataset.get("PatientName"))[:324]
    assert header.patient_id == _clean(dataset.get("PatientID"))[:64]
    assert header.study_description == _clean(dataset.get("StudyDescription"))[:64]
    assert header.series_description == _clean(dataset.get("SeriesDescription"))[:64]
    assert header.modality == _clean(dataset.get("Modality"))[:16]
    assert header.patient_sex == _clean(dataset.get("PatientSex"))[:16]
    assert header.referring_physician_name == _clean(dataset.get("ReferringPhysicianName"))[:324]
    assert header.institution_name == _clean(dataset.get("InstitutionName"))[:64]
    assert header.body_part_examined == _clean(dataset.get("BodyPartExamined"))[:16]
    assert header.sop_instance_uid == _clean(dataset.SOPInstanceUID)
    assert header.series_instance_uid == _clean(dataset.SeriesInstanceUID)
