"""Periodic housekeeping, run by every worker's heartbeat thread."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def run_housekeeping() -> None:
    """Expire old imports and recover transfers whose worker died."""
    from dicom_api.services import imports, transfers

    imports.import_expire_all()
    transfers.transfer_recover_stale()
