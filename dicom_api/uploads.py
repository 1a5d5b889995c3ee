"""Streaming uploads to disk with limits enforced while the request is read.

``LimitedUploadHandler`` writes each part of field ``files`` to a temporary file in
``FILE_UPLOAD_TEMP_DIR`` (nothing large in memory), refuses the request as soon as it exceeds
``UPLOAD_MAX_BYTES`` or ``UPLOAD_MAX_FILES``, and remembers every temporary file it made so the
view can delete them all when the request ends, whatever happened.

It runs inside Django's request parsing (when the view first reads ``request.FILES``), so it
raises the domain errors (``TooLargeError``, and ``StorageFullError`` from ``dicom_api.storage``):
DRF's multipart parser only wraps Django's own ``MultiPartParserError``, so they reach the view,
which audits them, and then the API exception handler, which answers 413 or 507 as JSON.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler
from django.http import HttpRequest

from dicom_api.storage import check_free_space, raise_if_disk_full
from dicom_transfer.exceptions import TooLargeError

logger = logging.getLogger(__name__)

UPLOAD_FIELD = "files"


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


def discard_upload(upload: UploadedFile) -> None:
    path = upload.temporary_file_path() if isinstance(upload, TemporaryUploadedFile) else None
    try:
        upload.close()
    except OSError:
        logger.warning("could not close a temporary upload file", exc_info=True)
    if path:
        Path(path).unlink(missing_ok=True)
