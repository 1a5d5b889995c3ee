"""One large file (a disc's ZIP archive) sent into an open import in chunks, resumable by offset.

``import_upload_start`` announces the file (its relative path and size) and answers where to go
on from: 0 for a new one, or the offset already received when the same path and size were
started before (the client was cut off or reloaded). ``import_upload_append`` appends one chunk
at exactly that offset, once the request that brought it was read whole (a chunk whose body
ended early is not kept: ``dicom_api.views.import_chunks``). When the last byte is in, the file
is added to the import as a batch of one (``import_add_files``: all or nothing) and the upload
is done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from dicom_api.models import ImportSession, ImportState, ImportUpload
from dicom_api.services.import_batches import BatchOutcome, ImportComplete, import_add_files
from dicom_api.services.imports import Upload
from dicom_api.storage import check_free_space, raise_if_disk_full
from dicom_api.uploads import client_path, too_large_detail
from dicom_transfer.exceptions import ConflictError, InvalidInputError, NotFoundError, TooLargeError

logger = logging.getLogger(__name__)

_WRITE = 1024 * 1024


class WrongOffset(ConflictError):
    """A chunk that does not begin where the server's copy ends (409, with ``offset``)."""

    def __init__(self, offset: int) -> None:
        super().__init__(
            f"This chunk does not start at byte {offset}, where the server's copy ends; send from there.",
            extra={"offset": offset},
        )


@dataclass(frozen=True)
class AppendOutcome:
    offset: int
    batch: BatchOutcome | None  # once the file is whole: what it added to the import


def import_upload_start(*, import_session: ImportSession, path: str, size_bytes: int) -> ImportUpload:
    """The upload of this file into the open import: new at offset 0, or the one begun before."""
    if import_session.state != ImportState.OPEN:
        raise ImportComplete()
    name = client_path(path)
    if not name:
        raise InvalidInputError("Give the file's relative path.", field="path")
    if size_bytes < 1:
        raise InvalidInputError("The file is empty.", field="size_bytes")
    if size_bytes > settings.UPLOAD_MAX_BYTES:
        raise TooLargeError(too_large_detail(settings.UPLOAD_MAX_BYTES))
    upload, created = ImportUpload.objects.get_or_create(
        import_session=import_session, path=name, defaults={"size_bytes": size_bytes}
    )
    if not created and upload.size_bytes != size_bytes:
        # Another file of that name: start it again.
        upload.partial_path.unlink(missing_ok=True)
        upload.size_bytes, upload.offset = size_bytes, 0
        upload.save(update_fields=["size_bytes", "offset"])
    if created:
        check_free_space(import_session.directory, size_bytes)
    return upload


def import_upload_append(*, upload: ImportUpload, offset: int, chunk: Path) -> AppendOutcome:
    """Append the received chunk (a whole request body, in a temporary file) at ``offset``; add
    the file to its import once whole.

    The chunk was read from the network before: the row lock is held only while it is copied.
    Raises ``WrongOffset`` (409), ``TooLargeError`` past the announced size, ``StorageFullError``,
    and what ``import_add_files`` raises for the whole file.
    """
    length = chunk.stat().st_size
    with transaction.atomic():
        # The row lock: two requests with the same chunk can't both append it.
        locked = ImportUpload.objects.select_for_update().select_related("import_session").filter(pk=upload.pk).first()
        if locked is None:
            raise NotFoundError("This upload is no longer there (its import was deleted, or it was completed).")
        if locked.import_session.state != ImportState.OPEN:
            raise ImportComplete()
        if offset != locked.offset:
            raise WrongOffset(locked.offset)
        if offset + length > locked.size_bytes:
            raise TooLargeError(f"The chunk runs past the file's announced size of {locked.size_bytes} bytes.")
        _append(locked, offset, chunk)
        locked.offset = offset + length
        locked.save(update_fields=["offset"])
    if locked.offset < locked.size_bytes:
        return AppendOutcome(offset=locked.offset, batch=None)
    return AppendOutcome(offset=locked.offset, batch=_finish(locked))


def _append(upload: ImportUpload, offset: int, chunk: Path) -> None:
    check_free_space(upload.import_session.directory, chunk.stat().st_size)
    descriptor = os.open(upload.partial_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with os.fdopen(descriptor, "r+b") as target, chunk.open("rb") as source:
            target.truncate(offset)  # whatever a failed append may have left
            target.seek(offset)
            shutil.copyfileobj(source, target, _WRITE)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.truncate(upload.partial_path, offset)
        if isinstance(e, OSError):
            raise_if_disk_full(e)
        raise


def _finish(upload: ImportUpload) -> BatchOutcome:
    """The whole file, added to its import as one batch; the upload and its file go either way."""
    try:
        return import_add_files(
            import_session=upload.import_session, uploads=[Upload(name=upload.path, path=upload.partial_path)]
        )
    finally:
        upload.partial_path.unlink(missing_ok=True)
        ImportUpload.objects.filter(pk=upload.pk).delete()
        logger.info("import %s: chunked upload %s done", upload.import_session_id, upload.pk)
