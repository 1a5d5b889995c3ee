"""How the instances of one attempt leave: the transport of a destination.

``transfer_run`` prepares what to send (the not yet acknowledged instances, as files) and hands it
to the destination's ``Sender``; every transport answers with the same ``dcmsend.SendReport``
(per-file outcomes given to ``record`` as they are decided, counts given to ``progress``, which
answers False to stop), so the ledger, the policy (``transfer_run.outcome_of``), progress and
cancel are the same for all of them: DCMTK's dcmsend over one association (``send_dicom``), and
storescu over DICOM TLS (``send_dicom_tls``); other transports (parallel associations, DICOMweb)
are added here, chosen by ``sender_for``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from django.conf import settings

from destinations import tls as tls_files
from destinations.models import Destination
from dicom_api.services.connection import destination_association
from dicom_api.services.staging import StagingArea
from dicomnet import dcmsend, storescu
from dicomnet.echoscu import echo

FilesCallback = Callable[[list[dcmsend.FileOutcome]], None]


class Sender(Protocol):
    def __call__(
        self,
        *,
        destination: Destination,
        files: list[Path],
        progress: dcmsend.ProgressCallback,
        record: FilesCallback,
        staging: StagingArea,
    ) -> dcmsend.SendReport: ...


def sender_for(destination: Destination) -> Sender:
    """The transport of ``destination``: storescu over TLS for a TLS destination, else dcmsend."""
    if destination.tls_profile:
        return send_dicom_tls
    return send_dicom


def send_dicom_tls(
    *,
    destination: Destination,
    files: list[Path],
    progress: dcmsend.ProgressCallback,
    record: FilesCallback,
    staging: StagingArea,
) -> dcmsend.SendReport:
    """C-STORE over DICOM TLS with storescu (dcmsend 3.6.7 has none), each file proposed in its own
    transfer syntax; the certificates are written into the attempt's staging folder."""
    try:
        options = tls_files.tls_options(destination, folder=staging.work)
    except tls_files.MissingKeyError as e:
        return dcmsend.SendReport(total=len(files), failure=dcmsend.Failure.TLS, detail=str(e))
    assert options is not None
    return storescu.send_files_tls(
        files=files,
        request=destination_association(destination),
        tls=options,
        program=settings.STORESCU_PATH,
        on_progress=progress,
        tick=settings.TRANSFER_PROGRESS_INTERVAL,
        on_files=record,
        work_dir=staging.work,
        # The certificate check runs before the first heartbeat: well inside TRANSFER_STALE_AFTER.
        check_timeout=max(1.0, min(settings.DICOM_CONNECT_TIMEOUT, settings.TRANSFER_STALE_AFTER / 4)),
    )


def send_dicom(
    *,
    destination: Destination,
    files: list[Path],
    progress: dcmsend.ProgressCallback,
    record: FilesCallback,
    staging: StagingArea,
) -> dcmsend.SendReport:
    """C-STORE with dcmsend over one association; when the association is rejected, a C-ECHO asks
    the peer why (dcmsend does not print it)."""
    request = destination_association(destination)
    report = dcmsend.send_files(
        files=files,
        request=request,
        program=settings.DCMSEND_PATH,
        on_progress=progress,
        tick=settings.TRANSFER_PROGRESS_INTERVAL,
        on_files=record,
        work_dir=staging.work,
    )
    if report.failure is dcmsend.Failure.ASSOCIATION_REJECTED:
        # dcmsend does not say why (unless in debug mode, too verbose for big series): ask the
        # peer once more with a C-ECHO, which reports the reason of the rejection.
        # Short timeouts: this runs without a heartbeat, well inside TRANSFER_STALE_AFTER.
        limit = max(1.0, min(settings.DICOM_ACSE_TIMEOUT, settings.TRANSFER_STALE_AFTER / 4))
        diagnosis = echo(
            replace(
                request,
                connect_timeout=min(settings.DICOM_CONNECT_TIMEOUT, limit),
                acse_timeout=limit,
                dimse_timeout=limit,
            ),
            program=settings.ECHOSCU_PATH,
        )
        if diagnosis.rejection is not None:
            report.rejection, report.detail = diagnosis.rejection, diagnosis.message
            if diagnosis.rejection.transient:
                report.failure = dcmsend.Failure.PEER_BUSY
    return report
