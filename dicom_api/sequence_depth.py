"""How deeply the sequences of a data set nest, read from its bytes without parsing its values.

pydicom recurses into sequences only when it reads them; the import asks it for a few top-level
attributes, so a sequence of defined length is skipped whole, however deep it nests inside. DCMTK
parses every level when it sends the file (a file nested 5,000 deep cost 5–17 s per send, and
deeper ones can exhaust its stack). This walk reads only element headers (tag, VR, length),
seeking over every value, and stops at the pixel data: it costs a few microseconds per element.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from pydicom.datadict import dictionary_VR

MAX_SEQUENCE_DEPTH = 32  # real objects nest a handful of levels; SR trees a few more
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_FIRST_PIXEL_TAG = 0x7FE00008


def _is_sequence_tag(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def sequences_nest_deeper_than(
    fp: BinaryIO, *, start: int, end: int, implicit_vr: bool, little_endian: bool, limit: int = MAX_SEQUENCE_DEPTH
) -> bool:
    """True when a sequence of the data set from ``start`` to ``end`` nests more than ``limit`` deep."""
    order = "<" if little_endian else ">"
    tag_format, long_format, short_format = order + "HH", order + "I", order + "H"
    # Open containers: [kind, end offset or None for undefined length]; kind "seq" counts in depth.
    stack: list[tuple[str, int | None]] = []
    depth = 0
    position = start
    fp.seek(start)
    while True:
        while stack:
            closes = stack[-1][1]
            if closes is None or position < closes:
                break
            if stack.pop()[0] == "seq":
                depth -= 1
        if position + 8 > end:
            return False
        head = fp.read(8)
        if len(head) < 8:
            return False
        group, element = struct.unpack(tag_format, head[:4])
        tag = group << 16 | element
        position += 8
        if group == 0xFFFE:  # item and delimiters: no VR in any encoding
            length = struct.unpack(long_format, head[4:8])[0]
            if tag == _ITEM:
                stack.append(("item", None if length == _UNDEFINED else position + length))
            elif tag == _ITEM_END:
                while stack and stack.pop()[0] != "item":
                    pass
            elif tag == _SEQUENCE_END:
                while stack:
                    kind = stack.pop()[0]
                    if kind in ("seq", "fragments"):
                        depth -= kind == "seq"
                        break
            continue
        if not stack and tag >= _FIRST_PIXEL_TAG:
            return False
        if implicit_vr:
            length = struct.unpack(long_format, head[4:8])[0]
            is_sequence = length == _UNDEFINED or _is_sequence_tag(tag)
        else:
            vr = head[4:6]
            if vr in _LONG_VRS:
                extra = fp.read(4)
                if len(extra) < 4:
                    return False
                length = struct.unpack(long_format, extra)[0]
                position += 4
            else:
                length = struct.unpack(short_format, head[6:8])[0]
            is_sequence = vr == b"SQ" or (vr == b"UN" and length == _UNDEFINED)
        if is_sequence:
            depth += 1
            if depth > limit:
                return True
            stack.append(("seq", None if length == _UNDEFINED else position + length))
        elif length == _UNDEFINED:  # encapsulated pixel data of a nested image: fragments, then a delimiter
            stack.append(("fragments", None))
        else:
            position += length
            fp.seek(position)
