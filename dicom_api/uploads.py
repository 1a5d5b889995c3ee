"""Streaming uploads to disk with limits enforced while the request is read.

``LimitedUploadHandler`` writes each part of field ``files`` to a temporary file in
``FILE_UPLOAD_TEMP_DIR`` (nothing large in memory), refuses the request as soon as it exceeds
``UPLOAD_MAX_BYTES`` or ``UPLOAD_MAX_FILES``, and remembers every temporary file it made so the
view can delete them all when the request ends, whatever happened.
"""

from __future__ import annotations

import errno
import logging
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler
from django.http import HttpRequest
from rest_framework import status
from rest_framework.exceptions import APIException

logger = logging.getLogger(__name__)

UPLOAD_FIELD = "files"


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "upload_too_large"


class InsufficientStorage(APIException):
    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_detail = "The server has not enough free storage for this upload; nothing was imported. Try again later."
    default_code = "insufficient_storage"


def _mb(size: int) -> str:
    return f"{size / 1024**2:,.0f} MB"


def too_large_detail(limit: int) -> str:
    return f"The upload exceeds the limit of {_mb(limit)} (UPLOAD_MAX_BYTES); nothing was imported."


def check_free_space(directory: Path, needed: int = 0) -> None:
    """Raise ``InsufficientStorage`` if writing ``needed`` bytes would leave less than the reserve."""
    free = shutil.disk_usage(directory).free
    if free - needed < settings.STORAGE_MIN_FREE_BYTES:
        logger.warning("refusing a write of %s bytes: %s bytes free", needed, free)
        raise InsufficientStorage()


def raise_if_disk_full(e: OSError) -> None:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        raise InsufficientStorage() from e


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
            raise UploadTooLarge(too_large_detail(settings.UPLOAD_MAX_BYTES))
        check_free_space(Path(settings.FILE_UPLOAD_TEMP_DIR), content_length)

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        if field_name != UPLOAD_FIELD:
            raise SkipFile()
        self.file_count += 1
        if self.file_count > settings.UPLOAD_MAX_FILES:
            raise UploadTooLarge(
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
            raise UploadTooLarge(too_large_detail(settings.UPLOAD_MAX_BYTES))
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
