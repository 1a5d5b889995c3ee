"""A DICOMweb destination as the services use it: its ``WebTarget`` (URL, auth, CA, timeouts from
the settings) and its transport, STOW-RS (``send_dicomweb``, one of ``senders``' transports)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from destinations.models import Destination
from dicom_api.services.staging import StagingArea
from dicomnet import dcmsend, stow
from dicomnet.dcmsend_files import FileOutcome
from dicomnet.dicomweb import AuthType, WebAuth, WebTarget


def destination_target(destination: Destination) -> WebTarget:
    """``destination`` as httpx reaches it: its URL, credentials and CA; the timeouts of the settings."""
    return WebTarget(
        url=destination.url,
        auth=WebAuth(AuthType(destination.auth_type), destination.auth_username, destination.auth_secret),
        ca_pem=destination.ca_certificate,
        connect_timeout=settings.DICOM_CONNECT_TIMEOUT,
        timeout=settings.DICOMWEB_TIMEOUT,
    )


def send_dicomweb(
    *,
    destination: Destination,
    files: list[Path],
    progress: dcmsend.ProgressCallback,
    record: Callable[[list[FileOutcome]], None],
    staging: StagingArea,
) -> dcmsend.SendReport:
    """STOW-RS to ``{url}/studies``, in batches of ``DICOMWEB_BATCH_INSTANCES`` and
    ``DICOMWEB_BATCH_BYTES``, streamed from the files themselves (nothing is staged)."""
    return stow.store(
        files=files,
        target=destination_target(destination),
        batch_instances=settings.DICOMWEB_BATCH_INSTANCES,
        batch_bytes=settings.DICOMWEB_BATCH_BYTES,
        on_progress=progress,
        tick=settings.TRANSFER_PROGRESS_INTERVAL,
        on_files=record,
        name_transfer_syntax=settings.DICOMWEB_NAME_TRANSFER_SYNTAX,
    )
