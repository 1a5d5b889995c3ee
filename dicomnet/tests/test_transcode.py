"""dicomnet.transcode on its own: frame by frame (a large multi-frame instance costs the memory of a
frame, measured as peak RSS in a child process), lossless copies decode to the same pixels, header
edits, and failures that name the reason."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomnet.transcode import TranscodeError, stage_copy

ROOT = Path(__file__).resolve().parents[2]
JLS, J2K, RLE = "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5"


def _multiframe(path: Path, frames: int, size: int = 512) -> None:
    """An uncompressed 16-bit multi-frame instance (CT texture and noise), written frame by frame."""
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    tile = np.kron(base.pixel_array, np.ones((size // 128, size // 128), dtype=base.pixel_array.dtype))
    base.Rows = base.Columns = size
    base.NumberOfFrames = frames
    base.SOPInstanceUID = base.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    del base.PixelData
    with path.open("wb") as out:
        pydicom.dcmwrite(out, base, enforce_file_format=True)
        length = tile.nbytes * frames
        out.write(b"\xe0\x7f\x10\x00OW\x00\x00" + length.to_bytes(4, "little"))
        rng = np.random.default_rng(7)
        for _ in range(frames):
            out.write((tile + rng.integers(0, 4, tile.shape).astype(tile.dtype)).tobytes())


_CHILD = """
import json, resource, sys
from pathlib import Path
import pydicom
from dicomnet.transcode import stage_copy
pydicom.dcmread(sys.argv[1], stop_before_pixels=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
copy = stage_copy(Path(sys.argv[1]), Path(sys.argv[2]), syntax=sys.argv[3])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "frames": copy.frames}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("syntax", [JLS, ExplicitVRLittleEndian])
def test_a_large_multi_frame_instance_is_transcoded_frame_by_frame(tmp_path: Path, syntax: str) -> None:
    source = tmp_path / "big.dcm"
    _multiframe(source, 400)  # 200 MiB of pixel data
    if syntax == ExplicitVRLittleEndian:  # decompressing: from a JPEG-LS copy of it
        compressed = tmp_path / "big-jls.dcm"
        stage_copy(source, compressed, syntax=JLS)
        source = compressed
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(source), str(tmp_path / "copy.dcm"), syntax],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=600,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["frames"] == 400
    grown_mib = (measured["after_kb"] - measured["before_kb"]) / 1024
    # One frame is 0.5 MiB; the codecs' buffers add a few. Holding every frame would be 200 MiB.
    assert grown_mib < 40, measured
    copy = pydicom.dcmread(tmp_path / "copy.dcm")
    assert str(copy.file_meta.TransferSyntaxUID) == syntax
    original = pydicom.dcmread(tmp_path / "big.dcm")
    for index in (0, 199, 399):
        assert np.array_equal(
            pydicom.pixels.pixel_array(copy, index=index), pydicom.pixels.pixel_array(original, index=index)
        )


@pytest.mark.parametrize("syntax", [JLS, J2K, RLE, "1.2.840.10008.1.2"])
def test_a_lossless_copy_decodes_to_the_same_pixels_and_the_source_is_untouched(tmp_path: Path, syntax: str) -> None:
    source = Path(str(get_testdata_file("CT_small.dcm")))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=syntax)
    assert (copy.transfer_syntax_from, copy.transfer_syntax_to, copy.transcoded) == (
        "1.2.840.10008.1.2.1",
        syntax,
        True,
    )
    staged = pydicom.dcmread(copy.path)
    assert np.array_equal(staged.pixel_array, pydicom.dcmread(source).pixel_array)
    assert staged.PatientName == pydicom.dcmread(source).PatientName
    assert (copy.path.stat().st_mode & 0o777) == 0o600
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest


def test_a_header_edit_alone_keeps_the_pixel_data_byte_for_byte(tmp_path: Path) -> None:
    source = Path(str(get_testdata_file("MR_small_jp2klossless.dcm")))

    def edit(dataset: pydicom.Dataset) -> None:
        dataset.PatientID = "CHANGED"

    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=None, edit=edit)
    assert not copy.transcoded
    staged, original = pydicom.dcmread(copy.path), pydicom.dcmread(source)
    assert staged.PatientID == "CHANGED"
    assert staged.PixelData == original.PixelData
    assert staged.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID


def test_a_failure_says_why_and_leaves_no_copy(tmp_path: Path) -> None:
    with pytest.raises(TranscodeError, match="could not be decoded"):
        stage_copy(Path(str(get_testdata_file("JPEG-lossy.dcm"))), tmp_path / "copy.dcm", syntax=ExplicitVRLittleEndian)
    assert not (tmp_path / "copy.dcm").exists()
    with pytest.raises(TranscodeError, match="1-bit pixel data"):
        stage_copy(Path(str(get_testdata_file("liver_1frame.dcm"))), tmp_path / "copy.dcm", syntax=JLS)
    assert not (tmp_path / "copy.dcm").exists()


def _bare(path: Path, name: str, *, implicit: bool) -> tuple[pydicom.Dataset, np.ndarray]:
    """``name`` written as a bare data set (no preamble, no file meta information), and its pixels."""
    dataset = pydicom.dcmread(get_testdata_file(name))
    pixels = dataset.pixel_array
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.preamble = None
    dataset.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=False)
    assert path.read_bytes()[128:132] != b"DICM"
    return dataset, pixels


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "explicit"])
@pytest.mark.parametrize("syntax", [None, ExplicitVRLittleEndian, RLE])
def test_a_bare_data_set_is_copied_into_a_part_10_file_with_its_pixels(
    tmp_path: Path, implicit: bool, syntax: str | None
) -> None:
    """The import accepts data sets without file meta information; a copy (de-identified, sent as
    another patient, transcoded) of one is a Part 10 file with the same pixels."""
    source = tmp_path / "bare"
    original, pixels = _bare(source, "CT_small.dcm", implicit=implicit)
    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=syntax, edit=lambda ds: setattr(ds, "PatientID", "NEW-1"))
    stored = "1.2.840.10008.1.2" if implicit else ExplicitVRLittleEndian
    assert copy.transfer_syntax_from == stored
    written = pydicom.dcmread(tmp_path / "copy.dcm")  # no force: a Part 10 file
    assert str(written.file_meta.TransferSyntaxUID) == (syntax or stored)
    assert written.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    assert written.PatientID == "NEW-1"
    assert np.array_equal(written.pixel_array, pixels)


def test_a_bare_data_set_without_pixel_data_is_copied_into_a_part_10_file(tmp_path: Path) -> None:
    source = Path(get_testdata_file("rtstruct.dcm"))  # as pydicom ships it: no file meta information
    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=None, edit=lambda ds: setattr(ds, "PatientID", "NEW-1"))
    written = pydicom.dcmread(tmp_path / "copy.dcm")
    assert written.PatientID == "NEW-1"
    assert str(written.file_meta.TransferSyntaxUID) == copy.transfer_syntax_to == "1.2.840.10008.1.2"
    assert written.ROIContourSequence == pydicom.dcmread(source, force=True).ROIContourSequence


def _with_trailing_elements(path: Path, name: str) -> pydicom.Dataset:
    """Sample ``name`` with, after its pixel data, a private block (group 7FE1, as some vendors
    keep raw data there), a digital signature and trailing padding."""
    dataset = pydicom.dcmread(get_testdata_file(name))
    block = dataset.private_block(0x7FE1, "ACME RAW 1.0", create=True)
    block.add_new(0x10, "OB", bytes(range(256)) * 4)
    block.add_new(0x11, "LO", "kept after the pixels")
    signature = pydicom.Dataset()
    signature.MACIDNumber = 1
    signature.DigitalSignatureUID = generate_uid()
    signature.Signature = b"\x01\x02" * 64
    dataset.DigitalSignaturesSequence = [signature]
    dataset.add_new(0xFFFCFFFC, "OB", b"\0" * 64)  # Data Set Trailing Padding
    dataset.save_as(path, enforce_file_format=True)
    return dataset


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("CT_small.dcm", None),  # a header change alone: the pixel data copied byte for byte
        ("CT_small.dcm", JLS),
        ("CT_small.dcm", "1.2.840.10008.1.2"),
        ("MR_small_jp2klossless.dcm", ExplicitVRLittleEndian),  # read past encapsulated pixel data
    ],
)
def test_elements_after_the_pixel_data_are_kept_but_signatures_and_padding(
    tmp_path: Path, name: str, syntax: str | None
) -> None:
    source = tmp_path / "source.dcm"
    original = _with_trailing_elements(source, name)
    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=syntax, edit=lambda ds: setattr(ds, "PatientID", "NEW-1"))
    written = pydicom.dcmread(copy.path)
    assert written.PatientID == "NEW-1"
    assert np.array_equal(written.pixel_array, original.pixel_array)
    block = written.private_block(0x7FE1, "ACME RAW 1.0")
    assert block[0x10].value == bytes(range(256)) * 4
    text = block[0x11].value  # a private LO is UN (its bytes) once written in implicit VR
    assert (text.decode().rstrip() if isinstance(text, bytes) else text) == "kept after the pixels"
    assert "DigitalSignaturesSequence" not in written
    assert 0xFFFCFFFC not in written
    assert [e.tag for e in written if e.tag > 0x7FE00010] == [0x7FE10010, 0x7FE11010, 0x7FE11011]
    # DCMTK (which sends the copy) reads it to its end, the private block included.
    dump = subprocess.run(["dcmdump", "+L", str(copy.path)], capture_output=True, text=True, check=True)
    assert "(7fe1,1011)" in dump.stdout
    assert "(fffa,fffa)" not in dump.stdout.lower() and "error" not in (dump.stdout + dump.stderr).lower()


def _odd_private_us(path: Path, *, after_the_pixels: bool) -> None:
    """CT_small with a private US element of odd length (which pydicom can't decode): in group 0009,
    or after the pixel data with a name for its bytes (a vendor's mislabelled element)."""
    import struct

    pydicom.dcmread(get_testdata_file("CT_small.dcm")).save_as(path, enforce_file_format=True)
    raw = path.read_bytes()
    group = 0x7FE1 if after_the_pixels else 0x0009
    value = b"Doe^Jane " if after_the_pixels else b"abc"
    block = struct.pack("<HH2sH", group, 0x0010, b"LO", 4) + b"ACME"
    block += struct.pack("<HH2sH", group, 0x1010, b"US", len(value)) + value
    if after_the_pixels:
        path.write_bytes(raw + block + b"\0")
    else:
        at = raw.index(struct.pack("<HH", 0x0010, 0x0010))  # before Patient's Name
        path.write_bytes(raw[:at] + block + raw[at:])


@pytest.mark.parametrize("syntax", [None, JLS])
def test_a_value_nobody_reads_is_copied_as_it_is_even_if_it_does_not_decode(tmp_path: Path, syntax: str | None) -> None:
    source = tmp_path / "odd.dcm"
    _odd_private_us(source, after_the_pixels=False)
    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=syntax, edit=lambda ds: setattr(ds, "PatientID", "NEW-1"))
    assert pydicom.dcmread(copy.path).PatientID == "NEW-1"
    assert b"\x09\x00\x10\x10US\x03\x00abc" in copy.path.read_bytes()


def test_an_element_after_the_pixels_that_cannot_be_written_fails_the_copy_without_its_value(tmp_path: Path) -> None:
    source = tmp_path / "odd.dcm"
    _odd_private_us(source, after_the_pixels=True)
    with pytest.raises(TranscodeError) as failure:
        stage_copy(source, tmp_path / "copy.dcm", syntax=JLS)
    assert "after its pixel data" in failure.value.reason
    assert "Doe" not in failure.value.reason and "Jane" not in failure.value.reason  # it is logged
    assert not (tmp_path / "copy.dcm").exists()


def test_elements_after_the_pixels_beyond_the_bound_are_refused_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dicomnet.transcode as transcode

    source = tmp_path / "raw-block.dcm"
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dataset.private_block(0x7FE1, "ACME RAW 1.0", create=True).add_new(0x10, "OB", b"\x01" * 4096)
    dataset.save_as(source, enforce_file_format=True)
    monkeypatch.setattr(transcode, "TRAILING_MAX_BYTES", 1024)
    with pytest.raises(TranscodeError, match=r"elements after the pixel data \(0 MB\) are too large"):
        stage_copy(source, tmp_path / "copy.dcm", syntax=JLS)
    monkeypatch.setattr(transcode, "TRAILING_MAX_BYTES", 8192)
    assert stage_copy(source, tmp_path / "copy.dcm", syntax=JLS).transcoded


def test_a_deflated_data_set_keeps_its_float_pixel_data_in_a_changed_copy(tmp_path: Path) -> None:
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    dataset = pydicom.Dataset()
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    dataset.SOPClassUID, dataset.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.30", generate_uid()
    dataset.PatientID, dataset.Rows, dataset.Columns, dataset.SamplesPerPixel = "P-1", 4, 4, 1
    dataset.PhotometricInterpretation, dataset.BitsAllocated, dataset.NumberOfFrames = "MONOCHROME2", 32, 1
    dataset.FloatPixelData = np.arange(16, dtype=np.float32).tobytes()
    source = tmp_path / "float.dcm"
    dataset.save_as(source, enforce_file_format=True)
    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=None, edit=lambda ds: setattr(ds, "PatientID", "NEW-1"))
    written = pydicom.dcmread(copy.path)
    assert (written.PatientID, written.FloatPixelData) == ("NEW-1", dataset.FloatPixelData)
    with pytest.raises(TranscodeError, match="float pixel data is not transcoded"):
        stage_copy(source, tmp_path / "other.dcm", syntax=ExplicitVRLittleEndian)


def _big_endian_with_words(path: Path, *, pixels: bool = True) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """An Explicit VR Big Endian instance with word values besides its pixels: an overlay (OW),
    a private OL, an OW in a sequence item and a private OW after the pixel data (without
    ``pixels``: a presentation state's overlay alone)."""
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.PatientName = "BIG^ENDIAN"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 8, 8, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    image = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 61).astype(">u2")
    ds.PixelData = image.tobytes()
    words = {
        0x60003000: np.array([0x0102, 0xFF00, 1, 0x8000], dtype=">u2"),
        0x00091011: np.array([0x01020304, 7], dtype=">u4"),
    }
    ds.add_new(0x60000010, "US", 2)
    ds.add_new(0x60000011, "US", 32)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", words[0x60003000].tobytes())
    ds.add_new(0x00090010, "LO", "OUR VENDOR")
    ds.add_new(0x00091011, "OL", words[0x00091011].tobytes())
    item = pydicom.Dataset()
    item.add_new(0x00283002, "US", [2, 0, 16])  # LUT Descriptor: two 16-bit entries
    item.add_new(0x00283006, "OW", np.array([3, 0x0400], dtype=">u2").tobytes())
    ds.add_new(0x00283010, "SQ", pydicom.Sequence([item]))  # VOI LUT Sequence, its LUT Data
    ds.add_new(0x7FE10010, "LO", "OUR VENDOR")
    ds.add_new(0x7FE11010, "OW", np.array([0x1234, 5], dtype=">u2").tobytes())
    if not pixels:
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.11.1"  # GSPS
        for tag in [element.tag for element in ds if element.tag.group in (0x0028, 0x7FE0, 0x7FE1)]:
            del ds[tag]
    ds.save_as(path, enforce_file_format=True)
    return image, words


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian, JLS])
def test_a_big_endian_instance_copied_in_little_endian_keeps_the_values_of_its_words(
    tmp_path: Path, syntax: str
) -> None:
    source = tmp_path / "big.dcm"
    pixels, words = _big_endian_with_words(source)
    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=syntax)
    assert copy.transcoded
    staged = pydicom.dcmread(copy.path)
    assert staged.file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(staged.pixel_array, pixels)
    # pydicom gives word values as bytes in the file's order: here little endian.
    assert np.array_equal(np.frombuffer(staged[0x60003000].value, "<u2"), words[0x60003000])
    assert np.array_equal(np.frombuffer(staged[0x00091011].value, "<u4"), words[0x00091011])
    assert list(np.frombuffer(staged.VOILUTSequence[0][0x00283006].value, "<u2")) == [3, 0x0400]
    assert list(np.frombuffer(staged[0x7FE11010].value, "<u2")) == [0x1234, 5]


def test_a_big_endian_instance_copied_in_its_own_syntax_keeps_its_words_as_they_are(tmp_path: Path) -> None:
    source = tmp_path / "big.dcm"
    _, words = _big_endian_with_words(source)
    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=None, edit=lambda ds: setattr(ds, "PatientID", "NEW-1"))
    staged = pydicom.dcmread(copy.path)
    assert staged.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian
    assert np.array_equal(np.frombuffer(staged[0x60003000].value, ">u2"), words[0x60003000])
    assert list(np.frombuffer(staged[0x7FE11010].value, ">u2")) == [0x1234, 5]


@pytest.mark.parametrize(
    ("syntax", "written"),
    [
        (ExplicitVRLittleEndian, ExplicitVRLittleEndian),
        (JLS, pydicom.uid.ExplicitVRBigEndian),  # nothing to compress: the source's syntax, as it is
    ],
)
def test_a_big_endian_instance_without_pixels_keeps_the_values_of_its_words(
    tmp_path: Path, syntax: str, written: str
) -> None:
    source = tmp_path / "gsps.dcm"
    _, words = _big_endian_with_words(source, pixels=False)
    copy = stage_copy(source, tmp_path / "copy.dcm", syntax=syntax)
    staged = pydicom.dcmread(copy.path)
    assert (copy.transfer_syntax_to, staged.file_meta.TransferSyntaxUID) == (written, written)
    order = "<u2" if written == ExplicitVRLittleEndian else ">u2"
    assert np.array_equal(np.frombuffer(staged[0x60003000].value, order), words[0x60003000])
    assert "PixelData" not in staged
