"""A staged copy of one instance: its pixel data transcoded to another transfer syntax, frame by
frame, and its header changed by the caller; the source file is only read.

pydicom 3 decodes (its own decoders and the pylibjpeg / openjpeg / libjpeg / rle / pyjpegls
plugins: every syntax DCMTK 3.6.7 decodes, and JPEG 2000, which it does not) and encodes
(JPEG-LS and JPEG 2000 lossless, RLE). Measured against DCMTK's programs in docs/transfers.md,
"Transcoding".

One frame at a time: the frames are read from the file one by one (``Decoder.iter_array`` on
the open file), each is encoded (or written raw) and written at once, so a 2 GB multi-frame
instance costs the memory of one frame. The copy is written by hand after its header: the pixel
data element of a known length (uncompressed) or encapsulated, one fragment per frame, with an
empty basic offset table (PS3.5 A.4). The elements after the pixel data (private groups such as
7FE1) follow it in the copy, but for digital signatures, which a changed copy invalidates, and
trailing padding.

Lossless targets are checked: each encoded frame is decoded again and must equal the frame it
was made from, or the copy fails (``TranscodeError``) and is not sent.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.errors import BytesLengthException
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.pixels import as_pixel_options, get_decoder, get_encoder
from pydicom.pixels.utils import _array_common
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

UNCOMPRESSED = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
)
# What a staged copy can be written in: the native encodings and the lossless codecs pydicom encodes.
TARGETS = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, JPEGLSLossless, JPEG2000Lossless, RLELossless})
# Lossy encodings (PS3.5 8.2, and the JPEG 2000 / HTJ2K / JPEG-LS near-lossless syntaxes).
LOSSY = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.93",
        "1.2.840.10008.1.2.4.203",
    }
)

_PIXEL_DATA = 0x7FE00010
_EXTENDED_OFFSETS = (0x7FE00001, 0x7FE00002)  # they describe the old encapsulation
# After the pixel data, not copied: the signatures (a changed copy no longer verifies) and padding.
_NOT_TRAILING = (0xFFFAFFFA, 0xFFFCFFFC)
# The elements after the pixel data are read into memory to be changed and written again; past this
# many bytes (a vendor's raw data block of hundreds of MB) the copy is refused rather than the
# worker's memory spent (the instance then goes as stored where it may, or fails alone, saying why).
TRAILING_MAX_BYTES = 16 * 1024 * 1024
_PIXEL_ELEMENTS = (0x7FE00008, 0x7FE00009, _PIXEL_DATA)  # float, double float, pixel data


class TranscodeError(Exception):
    """The copy could not be made; ``reason`` says why, for people (no patient data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StagedCopy:
    path: Path
    transfer_syntax_from: str
    transfer_syntax_to: str  # the copy's syntax (the source's when only the header changed)
    transcoded: bool  # False: no pixel data to transcode, or the syntax was kept
    frames: int = 0


def syntax_name(uid: str) -> str:
    name = UID(uid).name
    return name if name and name != uid else uid


def stage_copy(
    source: Path, target: Path, *, syntax: str | None, edit: Callable[[Dataset], None] | None = None
) -> StagedCopy:
    """Write ``target`` (created 0600, never overwritten): ``source`` in transfer syntax ``syntax``
    (None: the source's), with ``edit`` applied to its header. An instance without pixel data
    keeps its own syntax when ``syntax`` is a compressed one (there is nothing to compress).
    Raises ``TranscodeError``; whatever ``edit`` raises goes through, and no file is left."""
    try:
        # force: a data set without file meta information (the import accepts them) is read too.
        header = pydicom.dcmread(source, stop_before_pixels=True, force=True)
    except Exception as e:
        raise TranscodeError(f"the file could not be read ({type(e).__name__}: {e})") from e
    stored = str(header.file_meta.get("TransferSyntaxUID") or _encoding_of(header))
    # The copy is a Part 10 file whatever the source was (dcmwrite fills in the rest of the meta).
    header.file_meta.TransferSyntaxUID = UID(stored)
    # The elements after the pixel data join the header, so that ``edit`` (de-identification...)
    # sees the whole data set but for its pixels; they are written after the copy's pixel data.
    trailing = _trailing_elements(source, stored, header)
    for tag in sorted(trailing.keys()):
        _put_as_read(header, tag, trailing.get_item(tag))
    if edit is not None:
        try:
            edit(header)
        except BytesLengthException as e:  # a value of the wrong length, read by the edit: this instance alone
            raise TranscodeError(f"a value of its header can't be read ({type(e).__name__})") from e
    if syntax is not None and syntax not in TARGETS:
        raise TranscodeError(f"{syntax_name(syntax)} is not a syntax copies are written in")
    try:
        return _write(source, target, header, stored, syntax or stored)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


# The VRs whose values pydicom keeps as bytes in the file's byte order, by the size of their words
# (OB and UN are bytes; the value of UN can't be known).
_WORDS = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


def _to_little_endian(header: Dataset, stored: str) -> None:
    """``header`` of a copy written in a little endian syntax: its word values swapped if it was
    read big endian (only then: a copy that keeps the source's syntax keeps its words too)."""
    if stored == ExplicitVRBigEndian:
        _swap_words(header)


def _swap_words(dataset: Dataset) -> None:
    """The word values of a big endian ``dataset`` (Overlay Data, LUT Data, a private OW...) in
    little endian order, in its sequences too: pydicom writes them as it read them (its other
    values are decoded, and encoded again in the copy's order). Each value is decoded here, as
    writing in another byte order would."""
    try:
        for tag in sorted(dataset.keys()):
            element = dataset[tag]
            if element.VR == "SQ":
                for item in element.value:
                    _swap_words(item)
                continue
            size = _WORDS.get(str(element.VR))
            if size is None or not isinstance(element.value, bytes) or not element.value:
                continue
            if len(element.value) % size:
                raise TranscodeError(f"a {element.VR} value of its header is not a whole number of words")
            element.value = np.frombuffer(element.value, dtype=f">u{size}").astype(f"<u{size}").tobytes()
    except TranscodeError:
        raise
    except Exception as e:  # never the exception's text: it may quote a value
        raise TranscodeError(f"a value of its header can't be read ({type(e).__name__})") from e


def _encoding_of(header: Dataset) -> str:
    """The transfer syntax of a data set without file meta information, as pydicom read it."""
    implicit_vr, little_endian = header.original_encoding
    if implicit_vr:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little_endian else ExplicitVRBigEndian


def _write(source: Path, target: Path, header: Dataset, stored: str, wanted: str) -> StagedCopy:
    with source.open("rb") as f:
        frames, opts = _frames(f, header, stored, decode=wanted != stored)
        if frames is None:  # no pixel data: only the encoding of the data set can change
            if wanted not in (ImplicitVRLittleEndian, ExplicitVRLittleEndian):
                wanted = stored  # a compressed syntax does not apply
            if wanted != stored:
                _to_little_endian(header, stored)
                _write_header(target, header, wanted)
                return StagedCopy(target, stored, wanted, transcoded=True)
            _copy_with_header(f, target, header, stored, has_pixels=False)
            return StagedCopy(target, stored, stored, transcoded=False)
        if wanted == stored:  # header changes only: the pixel data is copied as it is
            _copy_with_header(f, target, header, stored, has_pixels=True)
            return StagedCopy(target, stored, stored, transcoded=False)
        count = int(opts.get("number_of_frames") or 1)
        opts["stored"] = stored
        if opts.get("pixel_keyword", "PixelData") != "PixelData":
            raise TranscodeError("float pixel data is not transcoded")
        if int(opts["bits_allocated"]) == 1:
            raise TranscodeError("1-bit pixel data is not transcoded")
        _to_little_endian(header, stored)  # every syntax a copy is written in is little endian
        trailing = _take_trailing(header)
        with _create(target) as out:
            if wanted in (ImplicitVRLittleEndian, ExplicitVRLittleEndian):
                _write_native(out, header, wanted, frames, opts, count)
            else:
                _write_encapsulated(out, header, wanted, frames, opts, count)
            _write_trailing(out, trailing, header, wanted)
    return StagedCopy(target, stored, wanted, transcoded=True, frames=count)


def _frames(
    f: BinaryIO, header: Dataset, stored: str, *, decode: bool
) -> tuple[Iterator[tuple[np.ndarray, dict[str, Any]]] | None, dict[str, Any]]:
    """The decoded frames (with pydicom's description of each), or None without pixel data."""
    if stored == DeflatedExplicitVRLittleEndian:
        # A deflated file is inflated whole to be read (such files are small: the import bounds them).
        dataset = pydicom.dcmread(f)
        if "PixelData" not in dataset:
            if any(tag in dataset for tag in _PIXEL_ELEMENTS):  # float pixel data: copied, never transcoded
                return iter(()), {"pixel_keyword": "FloatPixelData"}
            return None, {}
        opts = as_pixel_options(dataset)
        return (get_decoder(stored).iter_array(dataset, **opts) if decode else iter(())), opts
    # _array_common (pydicom 3.0's own reader for iter_pixels) leaves ``f`` at the pixel data's value.
    try:
        _, opts = _array_common(f, [], transfer_syntax_uid=UID(stored))
    except AttributeError:
        return None, {}
    except Exception as e:
        raise TranscodeError(f"the pixel data could not be read ({type(e).__name__}: {e})") from e
    if not decode:
        return iter(()), opts
    try:
        decoder = get_decoder(stored)
    except NotImplementedError as e:
        raise TranscodeError(f"{syntax_name(stored)} can't be decoded here") from e
    # iter_array reads from the open file at its position, frame by frame.
    return _guarded(decoder.iter_array(f, **opts)), opts


def _guarded(frames: Iterator[tuple[np.ndarray, dict[str, Any]]]) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    try:
        yield from frames
    except TranscodeError:
        raise
    except Exception as e:
        raise TranscodeError(f"its pixel data could not be decoded ({type(e).__name__}: {e})") from e


def _create(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _prepare(header: Dataset, syntax: str) -> None:
    for tag in _EXTENDED_OFFSETS:
        if tag in header:
            del header[tag]
    for tag in [tag for tag in sorted(header.keys()) if tag in _NOT_TRAILING]:  # keys: no value is decoded
        del header[tag]
    header.file_meta.TransferSyntaxUID = UID(syntax)


def _dump_header(out: BinaryIO, header: Dataset, syntax: str) -> None:
    _prepare(header, syntax)
    try:
        pydicom.dcmwrite(out, header, enforce_file_format=True)
    except Exception as e:  # a value pydicom can't convert (a private US of odd length...): this instance alone
        raise TranscodeError(f"its header could not be written in {syntax_name(syntax)} ({type(e).__name__})") from e


def _write_header(target: Path, header: Dataset, syntax: str) -> None:
    with _create(target) as out:
        _dump_header(out, header, syntax)


def _copy_with_header(f: BinaryIO, target: Path, header: Dataset, stored: str, *, has_pixels: bool) -> None:
    """The changed header, then the source's pixel data element byte for byte (read in chunks)."""
    with _create(target) as out:
        if stored == DeflatedExplicitVRLittleEndian and has_pixels:
            # Deflated: the header (as edited, the elements after the pixels included) and the
            # pixel data of the inflated data set, written whole again.
            f.seek(0)
            full = pydicom.dcmread(f)
            for tag in _PIXEL_ELEMENTS:
                if tag in full:
                    header[tag] = full.get_item(tag)
            _dump_header(out, header, stored)
            return
        if not has_pixels:
            _dump_header(out, header, stored)
            return
        trailing = _take_trailing(header)
        _dump_header(out, header, stored)
        # ``f`` is at the pixel data's value; step back to its element header and copy to its end.
        syntax = UID(stored)
        f.seek(f.tell() - _element_header_size(syntax))
        _copy_pixel_element(f, out, syntax)
        _write_trailing(out, trailing, header, stored)


def _element_header_size(syntax: UID) -> int:
    return 8 if syntax.is_implicit_VR else 12  # (7FE0,0010) OB/OW: tag, VR, reserved, 4-byte length


def _copy_pixel_element(f: BinaryIO, out: BinaryIO | None, syntax: UID) -> None:
    """The pixel data element at ``f``, copied to ``out`` (None: only read past)."""
    endian = "<" if syntax.is_little_endian else ">"
    head = f.read(_element_header_size(syntax))
    if out is not None:
        out.write(head)
    length = struct.unpack(f"{endian}L", head[-4:])[0]
    if length != 0xFFFFFFFF:
        _copy(f, out, length)
        return
    while True:  # encapsulated: items until the sequence delimiter
        item = f.read(8)
        if len(item) < 8:
            raise TranscodeError("its encapsulated pixel data ends early")
        if out is not None:
            out.write(item)
        tag = struct.unpack(f"{endian}HH", item[:4])
        size = struct.unpack(f"{endian}L", item[4:])[0]
        if tag == (0xFFFE, 0xE0DD):
            return
        _copy(f, out, size)


def _copy(f: BinaryIO, out: BinaryIO | None, length: int) -> None:
    if out is None:
        f.seek(length, os.SEEK_CUR)
        return
    while length:
        chunk = f.read(min(length, 1 << 20))
        if not chunk:
            raise TranscodeError("its pixel data ends early")
        out.write(chunk)
        length -= len(chunk)


def _trailing_elements(source: Path, stored: str, header: Dataset) -> Dataset:
    """The elements of ``source`` after its pixel data, but for signatures and padding (empty
    without pixel data). The import checked they lie within the file (``dicom_api/dicom_extent.py``)."""
    syntax = UID(stored)
    try:
        with source.open("rb") as f:
            if syntax == DeflatedExplicitVRLittleEndian:
                full = pydicom.dcmread(f)
                trailing = Dataset()
                for tag in [tag for tag in sorted(full.keys()) if tag > _PIXEL_DATA]:
                    trailing[tag] = full.get_item(tag)
            else:
                try:  # leaves ``f`` at the pixel data's value, as in ``_frames``
                    _array_common(f, [], transfer_syntax_uid=syntax)
                except AttributeError:
                    return Dataset()  # no pixel data
                f.seek(f.tell() - _element_header_size(syntax))
                _copy_pixel_element(f, None, syntax)
                left = source.stat().st_size - f.tell()
                if left > TRAILING_MAX_BYTES:
                    raise TranscodeError(
                        f"its elements after the pixel data ({left / 2**20:.0f} MB) are too large to be copied"
                    )
                trailing = read_dataset(
                    f, syntax.is_implicit_VR, syntax.is_little_endian, parent_encoding=header._character_set
                )
        for tag in [tag for tag in sorted(trailing.keys()) if tag in _NOT_TRAILING or tag <= _PIXEL_DATA]:
            del trailing[tag]
    except TranscodeError:
        raise
    except Exception as e:  # never the exception's text: pydicom's may quote a value (a name)
        raise TranscodeError(f"the elements after its pixel data could not be read ({type(e).__name__})") from e
    return trailing


def _put_as_read(dataset: Dataset, tag: int, element: Any) -> None:
    """``element`` into ``dataset`` as it is, raw if it was read raw: ``Dataset.__setitem__``
    decodes a private element's value, which may not decode (a private US of odd length), and an
    element nobody reads need not be. (pydicom 3.0 keeps a data set's elements in ``_dict``.)"""
    dataset._dict[BaseTag(tag)] = element


def _take_trailing(header: Dataset) -> Dataset:
    """The elements after the pixel data, taken out of ``header`` (which is written before it)."""
    trailing = Dataset()
    for tag in [tag for tag in sorted(header.keys()) if tag > _PIXEL_DATA]:
        if tag not in _NOT_TRAILING:  # an edit may have added them; they are not copied
            _put_as_read(trailing, tag, header.get_item(tag))
        del header[tag]
    return trailing


def _write_trailing(out: BinaryIO, trailing: Dataset, header: Dataset, syntax: str) -> None:
    """``trailing`` written at ``out`` (just after the pixel data) in ``syntax``."""
    if not len(trailing):
        return
    target = UID(syntax)
    encoded = DicomBytesIO()
    encoded.is_little_endian, encoded.is_implicit_VR = target.is_little_endian, target.is_implicit_VR
    try:
        write_dataset(encoded, trailing, parent_encoding=header._character_set)
    except Exception as e:  # never the exception's text: it may quote a value
        raise TranscodeError(f"the elements after its pixel data could not be written ({type(e).__name__})") from e
    out.write(encoded.getvalue())


def _decoded_photometric(meta: dict[str, Any], header: Dataset) -> str:
    value = str(meta.get("photometric_interpretation") or header.get("PhotometricInterpretation", "MONOCHROME2"))
    # pydicom returns 4:2:2 subsampled data at full resolution.
    return "YBR_FULL" if value == "YBR_FULL_422" else value


def _describe(header: Dataset, meta: dict[str, Any], frame: np.ndarray, stored: str) -> None:
    header.PhotometricInterpretation = _decoded_photometric(meta, header)
    if int(header.get("SamplesPerPixel", 1)) > 1:
        header.PlanarConfiguration = 0  # pydicom's arrays are colour-by-pixel
    if stored in LOSSY and "LossyImageCompression" not in header:
        header.LossyImageCompression = "01"


def _little(frame: np.ndarray) -> bytes:
    return frame.astype(frame.dtype.newbyteorder("<"), copy=False).tobytes()


def _write_native(
    out: BinaryIO,
    header: Dataset,
    syntax: str,
    frames: Iterator[tuple[np.ndarray, dict[str, Any]]],
    opts: dict[str, Any],
    count: int,
) -> None:
    first, meta = _first(frames)
    stored = str(opts["stored"])
    _describe(header, meta, first, stored)
    header.BitsAllocated = first.dtype.itemsize * 8
    _dump_header(out, header, syntax)
    length = first.nbytes * count
    padded = length + (length % 2)
    vr = b"OB" if first.dtype.itemsize == 1 else b"OW"
    if syntax == ImplicitVRLittleEndian:
        out.write(struct.pack("<HHL", 0x7FE0, 0x0010, padded))
    else:
        out.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, vr, 0, padded))
    written = 0
    for frame in _chain(first, frames):
        data = _little(frame)
        written += len(data)
        out.write(data)
    if written != length:
        raise TranscodeError(f"its pixel data held {written} bytes of frames, {length} expected")
    if padded != length:
        out.write(b"\0")


def _first(frames: Iterator[tuple[np.ndarray, dict[str, Any]]]) -> tuple[np.ndarray, dict[str, Any]]:
    for frame, meta in frames:
        return frame, meta
    raise TranscodeError("its pixel data holds no frame")


def _chain(first: np.ndarray, rest: Iterator[tuple[np.ndarray, dict[str, Any]]]) -> Iterator[np.ndarray]:
    yield first
    for frame, _ in rest:
        yield frame


def _write_encapsulated(
    out: BinaryIO,
    header: Dataset,
    syntax: str,
    frames: Iterator[tuple[np.ndarray, dict[str, Any]]],
    opts: dict[str, Any],
    count: int,
) -> None:
    encoder, decoder = get_encoder(syntax), get_decoder(syntax)
    first, meta = _first(frames)
    stored = str(opts["stored"])
    _describe(header, meta, first, stored)
    header.BitsAllocated = first.dtype.itemsize * 8
    photometric = str(header.PhotometricInterpretation)
    if photometric.startswith("YBR") and syntax != RLELossless:
        raise TranscodeError(f"{photometric} pixel data is not compressed to {syntax_name(syntax)} here")
    description: dict[str, Any] = {
        "rows": int(opts["rows"]),
        "columns": int(opts["columns"]),
        "samples_per_pixel": int(opts["samples_per_pixel"]),
        "bits_allocated": int(header.BitsAllocated),
        "bits_stored": int(opts["bits_stored"]),
        "pixel_representation": int(opts["pixel_representation"]),
        "photometric_interpretation": photometric,
        "number_of_frames": 1,
        "planar_configuration": 0,
    }
    if syntax == JPEG2000Lossless:
        description["use_mct"] = False  # the copy keeps RGB rather than YBR_RCT
    _dump_header(out, header, syntax)
    out.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
    out.write(struct.pack("<HHL", 0xFFFE, 0xE000, 0))  # an empty basic offset table
    written = 0
    for frame in _chain(first, frames):
        try:
            fragment = encoder.encode(frame, **description)
        except Exception as e:
            raise TranscodeError(f"it could not be encoded ({type(e).__name__}: {e})") from e
        _check_lossless(decoder, fragment, frame, description, syntax)
        if len(fragment) % 2:
            fragment += b"\0"
        out.write(struct.pack("<HHL", 0xFFFE, 0xE000, len(fragment)))
        out.write(fragment)
        written += 1
    out.write(struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
    if written != count:
        raise TranscodeError(f"its pixel data held {written} frames, {count} expected")


def _check_lossless(decoder: Any, fragment: bytes, frame: np.ndarray, description: dict[str, Any], syntax: str) -> None:
    decoded, _ = decoder.as_array(
        encapsulate([fragment]),
        **{k: v for k, v in description.items() if k != "use_mct"},
        transfer_syntax_uid=UID(syntax),
        as_rgb=False,
    )
    if decoded.shape != frame.shape or not np.array_equal(decoded, frame):
        raise TranscodeError(f"its {syntax_name(syntax)} copy does not decode to the same pixels")
