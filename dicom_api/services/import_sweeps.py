"""Housekeeping of imports: expired imports, orphan import directories, abandoned upload files.

Run by ``dicom_api.services.housekeeping`` (every worker's periodic thread). Several workers may
run these at once: an expired import is locked (``skip_locked``) by the one that deletes it, and
a file another worker removed first is skipped.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dicom_api.models import ACTIVE_STATUSES, ImportSession
from dicom_api.services.imports import has_active_transfer, remove_import_directory

logger = logging.getLogger(__name__)


def import_expire_all() -> int:
    """Delete expired imports and their files, then orphan directories; returns how many imports were removed.

    Imports with a transfer pending or sending are kept until it finishes.
    """
    now = timezone.now()
    candidates = list(
        ImportSession.objects.filter(expires_at__lte=now)
        .exclude(transfers__status__in=ACTIVE_STATUSES)
        .values_list("pk", flat=True)
    )
    removed = 0
    for pk in candidates:
        with transaction.atomic():
            session = (
                ImportSession.objects.select_for_update(skip_locked=True).filter(pk=pk, expires_at__lte=now).first()
            )
            if session is None or has_active_transfer(session):
                continue
            directory = session.directory
            session.delete()
        remove_import_directory(directory)
        removed += 1
    removed_orphans = import_orphans_sweep(now=now)
    if removed or removed_orphans:
        logger.info("expired %s imports, removed %s orphan directories", removed, removed_orphans)
    return removed


def import_orphans_sweep(*, now: datetime.datetime) -> int:
    """Directories under IMPORTS_DIR with no import row, older than IMPORT_TTL (a crash mid-import)."""
    root = Path(settings.IMPORTS_DIR)
    if not root.is_dir():
        return 0
    cutoff = now.timestamp() - settings.IMPORT_TTL
    removed = 0
    for entry in os.scandir(root):
        try:
            import_id = uuid.UUID(entry.name)
        except ValueError:
            continue
        if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_mtime > cutoff:
            continue
        if ImportSession.objects.filter(pk=import_id).exists():
            continue
        remove_import_directory(Path(entry.path))
        removed += 1
    return removed


def upload_temp_sweep(*, older_than: float = 12 * 3600) -> int:
    """Remove upload temporary files left by a web process that was killed mid-request (a request
    removes its own in any other case); returns how many were removed."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if not folder.is_dir():
        return 0
    limit = time.time() - older_than
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another worker was first
    if removed:
        logger.info("removed %d abandoned upload file(s)", removed)
    return removed
