"""Where a data set's values end: the pixel data, and any element after it, must lie within the file.

The import reads headers only, and pydicom stops at the pixel data; DCMTK reads the whole data
set before sending it and refuses a file that ends early ("Invalid stream"). These checks walk
the element headers from the pixel data to the end of the file (seeks, no values read).
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

_ITEM, _SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE0DD
EXPLICIT_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB", b"OD", b"OF", b"OL",
    b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI", b"UL", b"UN", b"UR", b"US",
    b"UT", b"UV",
}  # fmt: skip


class ExtentError(Exception):
    """A value runs past the end of the file; the message says which."""


def check_pixel_data(fp: BinaryIO, pixel: dict[str, int], *, little_endian: bool) -> None:
    """The parser stopped at the pixel data element: check that its value lies within the file."""
    if "length" not in pixel:
        return
    start = fp.tell()
    end = fp.seek(0, io.SEEK_END)
    fp.seek(start)
    header = fp.read(12)
    # Explicit VR OB/OW/OF/OD: tag(4) VR(2) reserved(2) length(4); implicit: tag(4) length(4).
    value_at = start + (12 if header[4:6] in EXPLICIT_VRS else 8)
    length = pixel["length"]
    if length != 0xFFFFFFFF:
        if value_at + length > end:
            raise ExtentError("truncated DICOM file (its pixel data ends early)")
        _check_trailing_elements(fp, value_at + length, end, little_endian=little_endian)
        return
    # Encapsulated: items until the sequence delimiter, each skipped by its length.
    fmt = "<HHI" if little_endian else ">HHI"
    position = value_at
    while True:
        fp.seek(position)
        item = fp.read(8)
        if len(item) < 8:
            raise ExtentError("truncated DICOM file (its pixel data ends early)")
        group, element, item_length = struct.unpack(fmt, item)
        tag = group << 16 | element
        if tag == _SEQUENCE_DELIMITER:
            _check_trailing_elements(fp, position + 8, end, little_endian=little_endian)
            return
        if tag != _ITEM or position + 8 + item_length > end:
            raise ExtentError("truncated DICOM file (its pixel data ends early)")
        position += 8 + item_length


_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
_MAX_TRAILING_ELEMENTS = 1000


def _check_trailing_elements(fp: BinaryIO, position: int, end: int, *, little_endian: bool) -> None:
    """Elements after the pixel data (padding, signatures) must lie within the file too: DCMTK
    reads the whole data set before it sends it, and refuses a file whose last element runs past
    its end ("Invalid stream"), which pydicom's header-only read never sees."""
    order = "<" if little_endian else ">"
    for _ in range(_MAX_TRAILING_ELEMENTS):
        if position >= end:
            return
        fp.seek(position)
        header = fp.read(12)
        if len(header) < 8:
            raise ExtentError("damaged DICOM file (it ends inside an element after the pixel data)")
        vr = header[4:6]
        if vr in _LONG_VRS:
            if len(header) < 12:
                raise ExtentError("damaged DICOM file (it ends inside an element after the pixel data)")
            (length,), value_at = struct.unpack(order + "I", header[8:12]), position + 12
        elif vr in EXPLICIT_VRS:
            (length,), value_at = struct.unpack(order + "H", header[6:8]), position + 8
        else:
            (length,), value_at = struct.unpack(order + "I", header[4:8]), position + 8
        if length == 0xFFFFFFFF:
            return  # a sequence of undefined length: not followed further
        if value_at + length > end:
            raise ExtentError("damaged DICOM file (an element after the pixel data runs past its end)")
        position = value_at + length
