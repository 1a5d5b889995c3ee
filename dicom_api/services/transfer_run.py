"""The worker's side of a transfer: claim it, send its series, and record the outcome.

``transfer_run`` decides nothing about state by itself: the attempt ends in an ``Outcome``
(``outcome_of`` is the policy: success, a permanent failure, or a transient one worth another
attempt), and ``outcome_record`` is the one function that writes it, through the transitions of
``transfer_lifecycle``.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from destinations.models import Destination
from dicom_api.models import DicomInstance, ImportSession, Status, TransferLog
from dicom_api.services import transfer_lifecycle as lifecycle
from dicom_api.services.connection import destination_association
from dicomnet import dcmsend
from dicomnet.addresses import AddressError, is_ipv6_address
from dicomnet.echoscu import echo

logger = logging.getLogger(__name__)


class Verdict(enum.Enum):
    SUCCESS = "success"
    REQUEUE = "requeue"  # a transient failure: the same transfer is attempted again later
    FAILED = "failed"
    CANCELLED = "cancelled"  # the user cancelled while this attempt ran


@dataclass
class Outcome:
    """How one attempt ended, and what to write."""

    verdict: Verdict
    message: str = ""
    delay: float = 0.0  # before the next attempt (REQUEUE)
    report: dcmsend.SendReport | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # counts and details of the row


def transfer_run(*, transfer_id: int, claim_token: str) -> None:
    """Claim and send one transfer. Called by the ``send_transfer`` job."""
    claimed = lifecycle.claim(
        transfer_id,
        token=claim_token,
        max_per_destination=settings.TRANSFER_MAX_CONCURRENT_PER_DESTINATION,
        stale_before=lifecycle.stale_before(settings.TRANSFER_STALE_AFTER),
    )
    if claimed is None:
        return
    log = claimed.log
    logger.info("transfer %s: attempt %s started (claim %s)", log.pk, log.attempt, claim_token)
    outcome_record(claimed, _attempt(claimed))


def _series_files(log: TransferLog) -> list[Path]:
    # Paths only, not model instances: a 2,000-instance series is loaded in milliseconds.
    directory = ImportSession(pk=log.import_session_id).directory
    return [
        directory / relative_path
        for relative_path in DicomInstance.objects.filter(
            import_session_id=log.import_session_id, series_instance_uid=log.series_instance_uid
        )
        .order_by("instance_number", "id")
        .values_list("relative_path", flat=True)
    ]


def _attempt(claimed: lifecycle.Claim) -> Outcome:
    log, destination = claimed.log, claimed.destination
    everything_failed = {"instances_failed": log.instance_count}
    files = _series_files(log) if log.import_session_id is not None else []
    if not files or any(not path.is_file() for path in files):
        return Outcome(
            Verdict.FAILED,
            "The files of this series are no longer on the server (the import expired or was deleted). "
            "Import them again and send.",
            fields=everything_failed,
        )
    if is_ipv6_address(destination.host):
        return Outcome(
            Verdict.FAILED,
            "DCMTK 3.6.7 can't connect to an IPv6 address: give the destination a host name or an IPv4 address.",
            fields=everything_failed,
        )
    last_saved = [0, 0]

    def progress(acknowledged: int, refused: int) -> bool:
        counts = None
        if [acknowledged, refused] != last_saved:
            counts = {"instances_sent": acknowledged, "instances_failed": refused}
            last_saved[:] = [acknowledged, refused]
        return lifecycle.save_progress(log.pk, token=claimed.token, counts=counts)

    try:
        report = _send(destination, files, progress)
    except AddressError as e:
        return Outcome(
            Verdict.FAILED,
            "The destination's settings are not valid for DCMTK: " + " ".join(e.messages),
            fields=everything_failed,
        )
    return outcome_of(log, report, claimed)


def _send(destination: Destination, files: list[Path], progress: dcmsend.ProgressCallback) -> dcmsend.SendReport:
    request = destination_association(destination)
    report = dcmsend.send_files(
        files=files,
        request=request,
        program=settings.DCMSEND_PATH,
        on_progress=progress,
        tick=settings.TRANSFER_PROGRESS_INTERVAL,
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


def _attempt_entry(log: TransferLog, claimed: lifecycle.Claim, report: dcmsend.SendReport) -> dict[str, Any]:
    """What the audit keeps of one attempt, with the destination as it was contacted."""
    return {
        "attempt": log.attempt,
        "worker": claimed.token,
        "destination": {
            "name": log.destination_name,
            "ae_title": log.destination_ae_title,
            "host": log.destination_host,
            "port": log.destination_port,
        },
        "started_at": log.heartbeat_at.isoformat() if log.heartbeat_at else None,
        "finished_at": timezone.now().isoformat(),
        "duration_s": round(report.duration_s, 3),
        "acknowledged": report.acknowledged,
        "refused": report.refused,
        "not_sent": report.not_sent,
        "outcome": "success" if report.success else (report.failure.value if report.failure else "failed"),
        "detail": report.detail[:500],
    }


def outcome_of(log: TransferLog, report: dcmsend.SendReport, claimed: lifecycle.Claim) -> Outcome:
    """The policy: what an attempt's report means for the transfer."""
    details = dict(log.details or {})
    details["attempts"] = [*details.get("attempts", []), _attempt_entry(log, claimed, report)]
    refused = [o for o in report.instances if o.status is not None and not o.acknowledged]
    if refused:
        details["refused_instances"] = [
            {"sop_instance_uid": o.sop_instance_uid, "status": f"0x{o.status:04X}", "text": o.text}
            for o in refused[:1000]
            if o.status is not None
        ]
    # A final outcome counts every instance not stored as failed; an attempt that will be followed
    # by another, or was cancelled, counts only those the destination refused.
    final = {
        "instances_sent": report.acknowledged,
        "instances_failed": report.total - report.acknowledged,
        "details": details,
    }
    interim = {**final, "instances_failed": report.refused}
    if report.success:
        return Outcome(Verdict.SUCCESS, report=report, fields=final)
    if report.failure is dcmsend.Failure.CANCELLED:
        return Outcome(Verdict.CANCELLED, report=report, fields=interim)
    assert report.failure is not None
    message = failure_message(report, log)
    if report.failure.transient and log.attempt < settings.TRANSFER_MAX_ATTEMPTS:
        delay = settings.TRANSFER_RETRY_BACKOFF * (2 ** (log.attempt - 1))
        return Outcome(
            Verdict.REQUEUE,
            f"{message} Attempt {log.attempt} of {settings.TRANSFER_MAX_ATTEMPTS}; trying again in {delay:g} s.",
            delay=delay,
            report=report,
            fields=interim,
        )
    return Outcome(Verdict.FAILED, message, report=report, fields=final)


def outcome_record(claimed: lifecycle.Claim, outcome: Outcome) -> None:
    """Write how the attempt ended. A transfer cancelled meanwhile stays cancelled, with what got
    through recorded (a user must not believe nothing reached the PACS when it all did)."""
    log, token, verdict = claimed.log, claimed.token, outcome.verdict
    if verdict is Verdict.SUCCESS:
        won = lifecycle.finish(log.pk, token=token, status=Status.SUCCESS, message="", **outcome.fields)
    elif verdict is Verdict.REQUEUE:
        won = lifecycle.requeue(log.pk, token=token, message=outcome.message, delay=outcome.delay, **outcome.fields)
    elif verdict is Verdict.FAILED:
        won = lifecycle.finish(log.pk, token=token, status=Status.FAILED, message=outcome.message, **outcome.fields)
    else:
        won = False
    if won:
        report = outcome.report
        logger.info(
            "transfer %s: %s after attempt %d%s",
            log.pk,
            verdict.value,
            log.attempt,
            f" ({report.failure.value})" if report is not None and report.failure else "",
        )
        return
    _record_after_cancel(log, outcome)


def _record_after_cancel(log: TransferLog, outcome: Outcome) -> None:
    report = outcome.report
    if report is None:  # nothing was sent
        return
    fields = {**outcome.fields, "instances_failed": report.refused}
    if report.success:
        fields["error_message"] = (
            f"Cancelled by the user, but all {report.total} instances had already been stored by the destination."
        )
    elif report.acknowledged:
        fields["error_message"] = (
            f"Cancelled by the user; {report.acknowledged} of {report.total} instances had been stored."
        )
    lifecycle.annotate_cancelled(log.pk, **fields)
    logger.info("transfer %s: stopped after cancel", log.pk)


def failure_message(report: dcmsend.SendReport, log: TransferLog) -> str:
    """A sentence a person can act on, naming the destination as this attempt contacted it."""
    where = f"{log.destination_host}:{log.destination_port}"
    ae = log.destination_ae_title
    failure = report.failure
    sent = f"{report.acknowledged} of {report.total} instances were acknowledged."
    if failure is dcmsend.Failure.CONNECTION_REFUSED:
        return f"Nothing accepts connections at {where}: is the DICOM service running and is the port right?"
    if failure is dcmsend.Failure.HOST_NOT_FOUND:
        return f"The host name {log.destination_host!r} could not be resolved: check the destination's host."
    if failure is dcmsend.Failure.ASSOCIATION_REJECTED:
        if report.rejection is not None:
            return report.detail  # the C-ECHO's diagnosis: why, and what to check
        return (
            f"The destination rejected the association: check that the destination knows our AE title "
            f"{settings.DICOM_CALLING_AE!r} and that its AE title is {ae!r}."
        )
    if failure is dcmsend.Failure.PEER_BUSY:
        return f"The destination is busy and refused the association for now ({report.detail}). {sent}"
    if failure is dcmsend.Failure.TIMEOUT:
        return f"The destination at {where} stopped answering (timeout). {sent}"
    if failure is dcmsend.Failure.ABORTED:
        return f"The destination aborted the association. {sent}"
    if failure is dcmsend.Failure.NO_PRESENTATION_CONTEXT:
        return "The destination accepts none of the SOP classes or transfer syntaxes of this series."
    if failure is dcmsend.Failure.INSTANCES_REFUSED:
        statuses = sorted({o.text for o in report.instances if o.status is not None and not o.acknowledged})
        why = f" ({', '.join(statuses[:3])})" if statuses else ""
        return (
            f"The destination refused {report.refused} of {report.total} instances{why}; "
            f"{report.acknowledged} were stored. Ask the PACS administrator why, then retry."
        )
    if failure is dcmsend.Failure.NOT_INSTALLED:
        return "DCMTK's dcmsend is not installed on the worker (apt-get install dcmtk)."
    return f"The transfer did not complete: {report.detail or 'unknown error'}. {sent}"
