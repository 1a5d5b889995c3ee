"""Reading an upload request's files, for ``POST /import/`` and ``POST /imports/{id}/files/``.

``received_uploads`` installs the streaming upload handler (limits while reading, temporary
files removed when the request ends whatever happened) and counts the body: an upload whose
body ended before its Content-Length is refused whole (``UploadInterrupted``) and audited as an
aborted import with what had arrived (bytes, files begun; no name, no patient data), before any
file of it is looked at.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import TemporaryUploadedFile
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request

from dicom_api.services.imports import Upload, import_record_failure
from dicom_api.uploads import UPLOAD_FIELD, CountedBody, LimitedUploadHandler, UploadInterrupted, uploaded_name
from dicom_transfer.errors import service_error_status
from dicom_transfer.exceptions import StorageFullError, TooLargeError


def record_refusal(request: Request, e: TooLargeError | StorageFullError, *, import_id: uuid.UUID | None) -> None:
    """Audit an upload refused whole (413, 507); its message names the limit that was hit."""
    details: dict[str, object] = {"status": service_error_status(e)}
    if import_id is not None:
        details["import_id"] = str(import_id)
    import_record_failure(user=request.user, request=request, message=e.message, details=details)


@contextlib.contextmanager
def received_uploads(request: Request, *, import_id: uuid.UUID | None = None) -> Iterator[list[Upload]]:
    """The request's uploaded parts (field ``files``) as temporary files, removed on exit.

    Raises ``UploadInterrupted`` (400, audited) for a body that ended early, ``TooLargeError``
    (413) and ``StorageFullError`` (507) (audited), and a validation error when no file was sent.
    """
    handler = LimitedUploadHandler(request._request)
    request._request.upload_handlers = [handler]
    body = CountedBody.install(request._request)

    def interrupted() -> UploadInterrupted:
        error = UploadInterrupted(
            received_bytes=body.received, expected_bytes=body.expected, files_begun=handler.file_count
        )
        details: dict[str, object] = dict(error.details)
        if import_id is not None:
            details["import_id"] = str(import_id)
        import_record_failure(user=request.user, request=request, message=error.message, details=details)
        return error

    try:
        try:
            parts = request.FILES.getlist(UPLOAD_FIELD)
        except (TooManyFilesSent, TooManyFieldsSent, RequestDataTooBig) as e:
            raise TooLargeError(f"The upload was refused: {e}") from None
        except (TooLargeError, StorageFullError) as e:  # from the upload handler, while reading
            record_refusal(request, e, import_id=import_id)
            raise
        except (OSError, ParseError):  # a connection reset, or a body cut inside a part's headers
            if body.ended_early:
                raise interrupted() from None
            raise
        if body.ended_early:  # Django's parser took the body that just stopped as whole
            raise interrupted()
        if not parts:
            raise ValidationError({UPLOAD_FIELD: ["Send one or more files in the multipart field 'files'."]})
        yield [
            Upload(name=uploaded_name(part), path=Path(part.temporary_file_path()))
            for part in parts
            if isinstance(part, TemporaryUploadedFile)
        ]
    finally:
        handler.cleanup()
