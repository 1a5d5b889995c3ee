"""ZIP archives of an import: counted on disk, then expanded member by member within limits.

``zip_member_count`` walks the central directory itself, so an archive claiming millions of
members is refused before ``zipfile`` reads that directory into memory. ``ZipArchive`` then
expands one member at a time into a hidden staging file of the import's directory, counting the
bytes actually written (never the sizes the headers claim) against ``ArchiveLimits``; an archive
beyond a limit is refused whole (``ArchiveRefused``, 413). Member names are never used as paths.
"""

from __future__ import annotations

import logging
import struct
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from django.conf import settings

from dicom_api.storage import check_free_space, raise_if_disk_full
from dicom_transfer.exceptions import TooLargeError

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
# Below this many bytes a compression ratio is not judged: tiny files of zeros compress very
# well and are harmless.
_RATIO_FLOOR_BYTES = 1024 * 1024
_S_IFMT, _S_IFLNK = 0o170000, 0o120000
# What zipfile and zlib raise on a damaged or unsupported member (OSError is the disk's).
_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError)


class DamagedArchive(Exception):
    """The file looks like a ZIP archive but its directory can't be read (a per-file error)."""


class ArchiveRefused(TooLargeError):
    """The archive is beyond a ZIP limit (a bomb, or just too big): the whole upload is refused."""

    def __init__(self, archive_name: str, reason: str) -> None:
        logger.warning("archive refused: %s", reason)
        super().__init__(f"The ZIP archive {archive_name!r} was refused: {reason}; nothing was imported.")


@dataclass(frozen=True)
class ArchiveLimits:
    members: int
    uncompressed_bytes: int
    ratio: int

    @classmethod
    def from_settings(cls) -> ArchiveLimits:
        return cls(
            members=settings.ZIP_MAX_MEMBERS,
            uncompressed_bytes=settings.ZIP_MAX_UNCOMPRESSED_BYTES,
            ratio=settings.ZIP_MAX_RATIO,
        )


@dataclass(frozen=True)
class Member:
    """One file of the archive: expanded into ``staged``, or skipped with ``error``."""

    filename: str  # as the archive names it: for messages only
    staged: Path | None = None
    error: str = ""


def is_zip(path: Path) -> bool:
    """Whether the file is a ZIP archive (a DICOM file's preamble may hold "PK": it is not)."""
    with path.open("rb") as f:
        head = f.read(132)
    if head[128:132] == b"DICM":
        return False
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


class ZipArchive:
    """An uploaded ZIP archive, opened after its member count was checked on disk."""

    def __init__(self, path: Path, *, name: str, limits: ArchiveLimits) -> None:
        """Raises ``DamagedArchive`` for an unreadable archive, ``ArchiveRefused`` past ZIP_MAX_MEMBERS."""
        self.name = name
        self.limits = limits
        try:
            members = zip_member_count(path, stop_after=limits.members)
        except zipfile.BadZipFile as e:
            raise DamagedArchive() from e
        if members > limits.members:
            raise ArchiveRefused(name, f"it has more than {limits.members} members (ZIP_MAX_MEMBERS)")
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise DamagedArchive() from e
        self._archive_size = max(path.stat().st_size, 1)
        self._total = 0

    def __enter__(self) -> ZipArchive:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._zip.close()

    def expand_each(self, *, into: Path) -> Iterator[Member]:
        """Every file member in turn, expanded into a hidden file of ``into`` that the caller takes.

        Raises ``ArchiveRefused`` past a limit and ``StorageFullError`` when the disk fills; the
        member being expanded is removed first.
        """
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            reason = _skip_reason(info)
            if reason:
                yield Member(info.filename, error=reason)
                continue
            check_free_space(into, min(info.file_size, self.limits.uncompressed_bytes))
            staged = into / f".{uuid.uuid4().hex}.part"
            try:
                self._expand(info, staged)
            except _MEMBER_ERRORS:
                staged.unlink(missing_ok=True)
                yield Member(info.filename, error="damaged or unsupported ZIP member")
                continue
            except OSError as e:
                staged.unlink(missing_ok=True)
                raise_if_disk_full(e)
                yield Member(info.filename, error="damaged ZIP member")
                continue
            except BaseException:
                staged.unlink(missing_ok=True)
                raise
            yield Member(info.filename, staged=staged)

    def _expand(self, info: zipfile.ZipInfo, staged: Path) -> None:
        written = 0
        with self._zip.open(info) as source, staged.open("wb") as target:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                self._total += len(chunk)
                self._check_limits(written, info.compress_size)
                target.write(chunk)

    def _check_limits(self, member_written: int, member_compressed: int) -> None:
        """Actual bytes out so far, of the member and of the archive, against the limits."""
        limits = self.limits
        if self._total > limits.uncompressed_bytes:
            raise ArchiveRefused(
                self.name, f"it expands beyond {limits.uncompressed_bytes // 1024**2} MB (ZIP_MAX_UNCOMPRESSED_BYTES)"
            )
        if member_written > _RATIO_FLOOR_BYTES and member_written > limits.ratio * max(member_compressed, 1):
            raise ArchiveRefused(self.name, f"a member is compressed more than {limits.ratio}:1 (ZIP_MAX_RATIO)")
        if self._total > _RATIO_FLOOR_BYTES and self._total > limits.ratio * self._archive_size:
            raise ArchiveRefused(self.name, f"it is compressed more than {limits.ratio}:1 (ZIP_MAX_RATIO)")


def _skip_reason(info: zipfile.ZipInfo) -> str:
    if (info.external_attr >> 16) & _S_IFMT == _S_IFLNK:
        return "symbolic link in a ZIP archive: skipped"
    if info.flag_bits & 0x1:
        return "encrypted ZIP member: skipped"
    return ""


def zip_member_count(path: Path, *, stop_after: int) -> int:
    """How many entries the ZIP's central directory holds (counting stops past ``stop_after``).

    Walks the central directory on disk entry by entry, the way ``zipfile`` will read it, so a
    central directory of millions of entries is refused before ``zipfile`` loads it into memory.
    Raises ``zipfile.BadZipFile`` when the directory can't be found or read.
    """
    with path.open("rb") as f:
        position, end = _central_directory(f, path.stat().st_size)
        count = 0
        while position < end and count <= stop_after:
            f.seek(position)
            entry = f.read(46)
            if len(entry) < 46 or entry[:4] != b"PK\x01\x02":
                raise zipfile.BadZipFile("bad central directory entry")
            name_length, extra_length, comment_length = struct.unpack("<HHH", entry[28:34])
            position += 46 + name_length + extra_length + comment_length
            count += 1
        return count


def _central_directory(f: BinaryIO, size: int) -> tuple[int, int]:
    """Where the central directory starts and ends, from the end record (ZIP64's when present)."""
    tail_length = min(size, 22 + 65535)
    f.seek(size - tail_length)
    tail = f.read(tail_length)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise zipfile.BadZipFile("no end of central directory")
    cd_size, _cd_offset = struct.unpack("<II", tail[at + 12 : at + 20])
    end = size - tail_length + at
    locator = tail[at - 20 : at] if at >= 20 else b""
    if locator[:4] == b"PK\x06\x07":
        (record_at,) = struct.unpack("<Q", locator[8:16])
        f.seek(record_at)
        record = f.read(56)
        if record[:4] != b"PK\x06\x06":
            raise zipfile.BadZipFile("bad zip64 end of central directory")
        (cd_size,) = struct.unpack("<Q", record[40:48])
        end = record_at
    start = end - cd_size
    if start < 0:
        raise zipfile.BadZipFile("bad central directory size")
    return start, end
