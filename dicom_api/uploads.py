"""Streaming uploads to disk with limits enforced while the request is read.

``LimitedUploadHandler`` writes each part of field ``files`` to a temporary file in
``FILE_UPLOAD_TEMP_DIR`` (nothing large in memory), refuses the request as soon as it exceeds
``UPLOAD_MAX_BYTES`` or ``UPLOAD_MAX_FILES``, and remembers every temporary file it made so the
view can delete them all when the request ends, whatever happened.

``PathMultiPartParser`` keeps the client's relative path of each file (``folder/sub/file.dcm``;
Django keeps the last part only) for messages and the resume manifest, never as a path.
``CountedBody`` counts the bytes read from the request body, so an upload whose body ended before
its Content-Length (the client gone, the connection reset) is told from a complete one: Django's
multipart parser takes a body that just stops as if it had ended there, with its last file cut.

It runs inside Django's request parsing (when the view first reads ``request.FILES``), so it
raises the domain errors (``TooLargeError``, and ``StorageFullError`` from ``dicom_api.storage``):
DRF's multipart parser only wraps Django's own ``MultiPartParserError``, so they reach the view,
which audits them, and then the API exception handler, which answers 413 or 507 as JSON.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser

from dicom_api.storage import check_free_space, raise_if_disk_full
from dicom_transfer.exceptions import InvalidInputError, TooLargeError

logger = logging.getLogger(__name__)

UPLOAD_FIELD = "files"
PATH_MAX = 1024


def client_path(name: str) -> str:
    """The client's name of an uploaded file, with its folders, made safe to show and compare."""
    cleaned = html.unescape(name).replace("\\", "/")
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in cleaned).strip().lstrip("/")
    return cleaned[-PATH_MAX:]


class _PathKeepingParser(DjangoMultiPartParser):
    def sanitize_file_name(self, file_name: str) -> str | None:
        # Display only (the temporary file gets a neutral name): the folders stay.
        return client_path(file_name) or None


class PathMultiPartParser(MultiPartParser):
    """DRF's multipart parser, keeping each file's relative path (``folder/file``) in its name."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> DataAndFiles:
        parser_context = parser_context or {}
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = _PathKeepingParser(meta, stream, request.upload_handlers, parser_context.get("encoding", "utf-8"))
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from None
        return DataAndFiles(data, files)


class UploadInterrupted(InvalidInputError):
    """The request body ended before its Content-Length (400; the client is usually gone)."""

    def __init__(self, *, received_bytes: int, expected_bytes: int, files_begun: int) -> None:
        percent = int(received_bytes * 100 / expected_bytes) if expected_bytes else 0
        super().__init__(
            f"The upload was interrupted: {_mb(received_bytes)} of {_mb(expected_bytes)} received ({percent} %), "
            f"{files_begun} file{'' if files_begun == 1 else 's'} begun; nothing was imported."
        )
        self.details = {
            "aborted": True,
            "received_bytes": received_bytes,
            "expected_bytes": expected_bytes,
            "files_begun": files_begun,
        }


class CountedBody:
    """The request's body stream, counting what was read; ``ended_early`` once it stops short."""

    def __init__(self, stream: Any, expected: int) -> None:
        self._stream = stream
        self.expected = expected
        self.received = 0
        self.broken = False  # reading raised: the connection was reset

    def read(self, *args: Any) -> bytes:
        try:
            data: bytes = self._stream.read(*args)
        except OSError:
            self.broken = True
            raise
        self.received += len(data)
        return data

    def readline(self, *args: Any) -> bytes:
        try:
            line: bytes = self._stream.readline(*args)
        except OSError:
            self.broken = True
            raise
        self.received += len(line)
        return line

    @property
    def ended_early(self) -> bool:
        return self.broken or self.received < self.expected

    @classmethod
    def install(cls, request: HttpRequest) -> CountedBody:
        """Count the body of ``request`` (before anything reads it)."""
        try:
            expected = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            expected = 0
        counted = cls(request._stream, expected)
        request._stream = counted  # type: ignore[assignment]  # read() and readline() are all Django uses
        return counted


def _mb(size: int) -> str:
    return f"{size / 1024**2:,.0f} MB"


def too_large_detail(limit: int) -> str:
    return f"The upload exceeds the limit of {_mb(limit)} (UPLOAD_MAX_BYTES); nothing was imported."


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler with the import's limits, and cleanup of what it wrote."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received_bytes = 0
        self.file_count = 0
        self.created: list[TemporaryUploadedFile] = []

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        if content_length > settings.UPLOAD_MAX_BYTES:
            raise TooLargeError(too_large_detail(settings.UPLOAD_MAX_BYTES))
        check_free_space(Path(settings.FILE_UPLOAD_TEMP_DIR), content_length)

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        if field_name != UPLOAD_FIELD:
            raise SkipFile()
        self.file_count += 1
        if self.file_count > settings.UPLOAD_MAX_FILES:
            raise TooLargeError(
                f"The upload has more than {settings.UPLOAD_MAX_FILES} files (UPLOAD_MAX_FILES); "
                "nothing was imported. Send them in several uploads or as a ZIP archive."
            )
        # The client's name is kept for messages only: the temporary file gets a neutral name.
        super().new_file(field_name, "upload", *args, **kwargs)
        self.file.name = file_name
        self.file.client_path = file_name  # type: ignore[attr-defined]  # with its folders (``name`` drops them)
        self.created.append(self.file)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received_bytes += len(raw_data)
        if self.received_bytes > settings.UPLOAD_MAX_BYTES:
            raise TooLargeError(too_large_detail(settings.UPLOAD_MAX_BYTES))
        try:
            self.file.write(raw_data)
        except OSError as e:
            raise_if_disk_full(e)
            raise

    def cleanup(self) -> None:
        """Close and delete every temporary file this handler created."""
        for upload in self.created:
            discard_upload(upload)
        self.created.clear()


def uploaded_name(upload: UploadedFile) -> str:
    """The client's name of an uploaded part, with its folders."""
    return str(getattr(upload, "client_path", "") or upload.name or "")


def discard_upload(upload: UploadedFile) -> None:
    path = upload.temporary_file_path() if isinstance(upload, TemporaryUploadedFile) else None
    try:
        upload.close()
    except OSError:
        logger.warning("could not close a temporary upload file", exc_info=True)
    if path:
        Path(path).unlink(missing_ok=True)
