"""Periodic housekeeping, run by every worker's heartbeat thread."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def run_housekeeping() -> None:
    """Expire old imports, recover transfers whose worker died or whose job was lost, prune old jobs."""
    from dicom_api.services import import_sweeps, transfers

    import_sweeps.import_expire_all()
    import_sweeps.upload_temp_sweep()
    transfers.transfer_recover_stale()
    transfers.transfer_requeue_lost()
    transfers.task_results_prune()
