"""How the instances of one attempt leave: the transport of a destination.

``transfer_run`` prepares what to send (the not yet acknowledged instances, as files) and hands it
to the destination's ``Sender``; every transport answers with the same ``dcmsend.SendReport``
(per-file outcomes given to ``record`` as they are decided, counts given to ``progress``, which
answers False to stop), so the ledger, the policy (``transfer_run.outcome_of``), progress and
cancel are the same for all of them: DCMTK's dcmsend over one association (``send_dicom``),
storescu over DICOM TLS (``send_dicom_tls``), either over several associations at once
(``send_parallel_associations``, when the claim took more than one for the attempt:
``Destination.max_associations``), and DICOMweb STOW-RS (``dicomweb.send_dicomweb``, a
destination of kind ``dicomweb``: one HTTP connection, batches of instances), chosen by
``sender_for``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Protocol

from django.conf import settings

from destinations import tls as tls_files
from destinations.models import Destination
from dicom_api.services.connection import destination_association
from dicom_api.services.dicomweb import send_dicomweb
from dicom_api.services.staging import StagingArea
from dicomnet import dcmsend, dcmsend_parallel, storescu
from dicomnet.association import AssociationRequest
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


def sender_for(destination: Destination, *, associations: int = 1) -> Sender:
    """The transport of ``destination`` (STOW-RS for a DICOMweb destination, storescu over TLS for
    a TLS destination, else dcmsend), for an attempt that took ``associations`` at its claim."""
    if destination.is_dicomweb:
        return send_dicomweb
    if associations > 1:
        return partial(send_parallel_associations, associations=associations)
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
    return _one_association(
        request, files, progress, record, work_dir=staging.work, tick=settings.TRANSFER_PROGRESS_INTERVAL
    )


# How often each association of a parallel send asks whether to go on: a cancel stops them all
# within this (the caller's own progress, with the database, stays at TRANSFER_PROGRESS_INTERVAL).
_SHARE_TICK = 0.1


def send_parallel_associations(
    *,
    destination: Destination,
    files: list[Path],
    progress: dcmsend.ProgressCallback,
    record: FilesCallback,
    staging: StagingArea,
    associations: int,
) -> dcmsend.SendReport:
    """C-STORE over ``associations`` associations at once, each sending its share of ``files``
    (``dicomnet.dcmsend_parallel``) with the destination's own transport (dcmsend, or storescu
    over TLS): one report, outcomes by position in ``files``."""
    request = destination_association(destination)
    request.checked()  # an invalid address raises here, before any thread starts
    tick = min(settings.TRANSFER_PROGRESS_INTERVAL, _SHARE_TICK)
    one: dcmsend_parallel.OneSend
    if destination.tls_profile:
        try:
            # Written once into the staging folder; every association reads the same files.
            options = tls_files.tls_options(destination, folder=staging.work)
        except tls_files.MissingKeyError as e:
            return dcmsend.SendReport(total=len(files), failure=dcmsend.Failure.TLS, detail=str(e))
        assert options is not None

        def one(
            share: Sequence[Path], on_progress: dcmsend.ProgressCallback, on_files: FilesCallback
        ) -> dcmsend.SendReport:
            return storescu.send_files_tls(
                files=share,
                request=request,
                tls=options,
                program=settings.STORESCU_PATH,
                on_progress=on_progress,
                tick=tick,
                on_files=on_files,
                work_dir=staging.work,
                check_timeout=max(1.0, min(settings.DICOM_CONNECT_TIMEOUT, settings.TRANSFER_STALE_AFTER / 4)),
            )
    else:

        def one(
            share: Sequence[Path], on_progress: dcmsend.ProgressCallback, on_files: FilesCallback
        ) -> dcmsend.SendReport:
            return _one_association(request, share, on_progress, on_files, work_dir=staging.work, tick=tick)

    report = dcmsend_parallel.send_parallel(
        files=files,
        count=associations,
        send=one,
        on_progress=progress,
        tick=settings.TRANSFER_PROGRESS_INTERVAL,
        on_files=record,
    )
    if report.failure is dcmsend.Failure.ASSOCIATION_REJECTED and report.rejection is None:
        # Every association was rejected, yet the C-ECHO asked alone afterwards was not: the peer
        # takes fewer at once (some count the ones being opened, and reject them all). Busy, so
        # tried again, and the next claim takes half as many (``transfer_lifecycle.claim``).
        report.failure = dcmsend.Failure.PEER_BUSY
        report.detail = (
            f"the destination rejected {associations} simultaneous associations but accepts one; "
            "lower its max_associations"
        )
    return report


def _one_association(
    request: AssociationRequest,
    files: Sequence[Path],
    progress: dcmsend.ProgressCallback,
    record: FilesCallback,
    *,
    work_dir: Path,
    tick: float,
) -> dcmsend.SendReport:
    report = dcmsend.send_files(
        files=files,
        request=request,
        program=settings.DCMSEND_PATH,
        on_progress=progress,
        tick=tick,
        on_files=record,
        work_dir=work_dir,
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
