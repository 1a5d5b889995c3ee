"""The thumbnail of a series of an import: rendered once from its representative instance, then
served from a file in the import's folder (``thumbnails/``, removed with the import).

The representative instance is the middle one by Instance Number (instances without one come
last, then by SOP Instance UID); of a multi-frame instance, the middle frame
(``dicom_api.thumbnails``). A series without an image is remembered too (a small ``.none`` file
with the reason), so a structured report is read once, not at every page load. Files are written
0600 under a temporary name, then renamed: two requests rendering at once both answer, and a
reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.db.models import F

from dicom_api.models import DicomInstance, ImportSession
from dicom_api.thumbnails import DEFAULT_SIZE, ImageUnreadable, NoImage, render_thumbnail
from dicom_transfer.exceptions import NotFoundError, UnprocessableError

logger = logging.getLogger(__name__)

THUMBNAIL_FOLDER = "thumbnails"
# Part of each cache file's name: a change of the rendering makes new files (the old ones go with
# their import).
RENDERING_VERSION = "1"


class SeriesWithoutImage(UnprocessableError):
    """The series has no picture to show (422, ``reason``: ``no_image`` or ``unreadable``)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, extra={"reason": reason})
        self.reason = reason


@dataclass(frozen=True)
class Thumbnail:
    content: bytes
    content_type: str = "image/png"


def series_thumbnail(*, import_session: ImportSession, series_instance_uid: str) -> Thumbnail:
    """The PNG of the series; ``NotFoundError`` for a series not in the import,
    ``SeriesWithoutImage`` for one without an image (or whose image can't be decoded)."""
    instances = DicomInstance.objects.filter(
        import_session=import_session, series_instance_uid=series_instance_uid
    ).order_by(F("instance_number").asc(nulls_last=True), "sop_instance_uid")
    count = instances.count()
    if not count:
        raise NotFoundError("This import has no series with that Series Instance UID.")
    folder = import_session.directory / THUMBNAIL_FOLDER
    key = hashlib.sha256(f"{RENDERING_VERSION}:{DEFAULT_SIZE}:{series_instance_uid}".encode()).hexdigest()[:40]
    picture, nothing = folder / f"{key}.png", folder / f"{key}.none"
    try:
        return Thumbnail(picture.read_bytes())
    except FileNotFoundError:
        pass
    try:
        remembered = json.loads(nothing.read_text(encoding="utf-8"))
        raise SeriesWithoutImage(str(remembered["detail"]), reason=str(remembered["reason"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    middle = instances.values_list("relative_path", flat=True)[count // 2]
    try:
        content = render_thumbnail(import_session.directory / middle)
    except NoImage:
        _remember(
            nothing,
            json.dumps({"reason": "no_image", "detail": _NO_IMAGE}).encode(),
        )
        raise SeriesWithoutImage(_NO_IMAGE, reason="no_image") from None
    except ImageUnreadable as e:
        detail = f"The image of this series can't be shown: {e}."
        _remember(nothing, json.dumps({"reason": "unreadable", "detail": detail}).encode())
        raise SeriesWithoutImage(detail, reason="unreadable") from None
    _remember(picture, content)
    return Thumbnail(content)


_NO_IMAGE = "This series has no image (a report, a plan or a waveform, for instance): there is nothing to preview."


def _remember(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` (0600, atomically); a failure only costs a render next time."""
    temporary = path.with_name(f".{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(content)
        temporary.replace(path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        logger.warning("a thumbnail could not be cached (%s)", e.strerror or type(e).__name__)
