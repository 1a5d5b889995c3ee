"""The storage policy: how much free space an upload or an import must leave on ``DATA_DIR``.

Used by the upload handler (``dicom_api.uploads``, while Django reads the request) and by the
import service (``dicom_api.services.imports``, while files are moved and archives expanded).
Both raise ``StorageFullError`` (507): a write that would eat into ``STORAGE_MIN_FREE_BYTES``
is refused before it starts, and one that fails with ENOSPC or EDQUOT anyway says the same.
"""

from __future__ import annotations

import errno
import logging
import shutil
from pathlib import Path

from django.conf import settings

from dicom_transfer.exceptions import StorageFullError

logger = logging.getLogger(__name__)


def check_free_space(directory: Path, needed: int = 0) -> None:
    """Raise ``StorageFullError`` if writing ``needed`` bytes would leave less than the reserve."""
    free = shutil.disk_usage(directory).free
    if free - needed < settings.STORAGE_MIN_FREE_BYTES:
        logger.warning("refusing a write of %s bytes: %s bytes free", needed, free)
        raise StorageFullError()


def raise_if_disk_full(e: OSError) -> None:
    """Turn a write that failed because the disk (or the quota) is full into ``StorageFullError``."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        raise StorageFullError() from e
