"""The worker's side of a transfer: claim it, send its series, and record the outcome.

``transfer_run`` decides nothing about state by itself: the attempt ends in an ``Outcome``
(``outcome_of`` is the policy: success, a permanent failure, or a transient one worth another
attempt), and ``outcome_record`` is the one function that writes it, through the transitions of
``transfer_lifecycle``.
"""

from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from destinations.models import Destination
from dicom_api import stopping
from dicom_api.models import Delivery, ImportSession, Status, TransferLog
from dicom_api.services import reachability, senders, staged_send, staging, verification
from dicom_api.services import transfer_ledger as ledger
from dicom_api.services import transfer_lifecycle as lifecycle
from dicomnet import dcmsend
from dicomnet.addresses import AddressError, is_ipv6_address

logger = logging.getLogger(__name__)


class Verdict(enum.Enum):
    SUCCESS = "success"
    REQUEUE = "requeue"  # a transient failure: the same transfer is attempted again later
    FAILED = "failed"
    CANCELLED = "cancelled"  # the user cancelled while this attempt ran
    RELEASE = "release"  # this worker was asked to stop: the next one sends the rest, at once


@dataclass
class Outcome:
    """How one attempt ended, and what to write."""

    verdict: Verdict
    message: str = ""
    delay: float = 0.0  # before the next attempt (REQUEUE)
    report: dcmsend.SendReport | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # counts and details of the row
    reachable: bool | None = None  # what the attempt found of the destination (None: nothing)


def transfer_run(*, transfer_id: int, claim_token: str) -> None:
    """Claim and send one transfer. Called by the ``send_transfer`` job."""
    claimed = lifecycle.claim(
        transfer_id,
        token=claim_token,
        max_per_destination=settings.TRANSFER_MAX_CONCURRENT_PER_DESTINATION,
        stale_before=lifecycle.stale_before(settings.TRANSFER_STALE_AFTER),
        retry_for=settings.TRANSFER_RETRY_FOR,
    )
    if claimed is None:
        return
    log = claimed.log
    logger.info("transfer %s: attempt %s started (claim %s)", log.pk, log.attempt, claim_token)
    attempt = _attempt(claimed)
    # The last outcomes of the ledger, the policy's reading of them and the transition: one commit.
    with transaction.atomic():
        if isinstance(attempt, _Sent):
            ledger.ledger_record(attempt.rows, attempt.unwritten)
            outcome = outcome_of(log, attempt.report, claimed)
        else:
            outcome = attempt
        outcome_record(claimed, outcome)
    if outcome.verdict is Verdict.SUCCESS:
        verification.verify_after_send(log.pk)


@dataclass
class _Sent:
    """dcmsend ran: its report, and the ledger outcomes not written yet."""

    report: dcmsend.SendReport
    rows: list[ledger.LedgerRow]
    unwritten: list[dcmsend.FileOutcome]


def _attempt(claimed: lifecycle.Claim) -> Outcome | _Sent:
    log, destination = claimed.log, claimed.destination
    everything_failed = {"instances_failed": log.instance_count - log.instances_already_delivered}
    # What the destination has not acknowledged yet, in order (paths only, not model instances:
    # a 2,000-instance series is loaded in milliseconds).
    rows = ledger.ledger_to_send(log.pk)
    if not rows and ledger.ledger_ensure(log):
        rows = ledger.ledger_to_send(log.pk)
    if not rows:
        return outcome_of(log, None, claimed)  # everything delivered, or left unsendable, already
    directory = ImportSession(pk=log.import_session_id).directory if log.import_session_id is not None else None
    files = [directory / row.relative_path for row in rows] if directory is not None else []
    if directory is None or not files or not _all_present(directory, [row.relative_path for row in rows]):
        return Outcome(
            Verdict.FAILED,
            "The files of this series are no longer on the server (the import expired or was deleted). "
            "Import them again and send.",
            fields=everything_failed,
        )
    if not destination.is_dicomweb and is_ipv6_address(destination.host):
        return Outcome(
            Verdict.FAILED,
            "DCMTK 3.6.7 can't connect to an IPv6 address: give the destination a host name or an IPv4 address.",
            fields=everything_failed,
        )
    last_saved = [0, 0]
    before = log.instances_already_delivered

    def progress(acknowledged: int, refused: int) -> bool:
        counts = None
        if [acknowledged, refused] != last_saved:
            counts = {"instances_sent": before + acknowledged, "instances_failed": refused}
            last_saved[:] = [acknowledged, refused]
        # The ledger's new outcomes and the heartbeat in one commit (a commit waits for the disk).
        with transaction.atomic():
            ledger.ledger_record(rows, unwritten)
            unwritten.clear()
            alive = lifecycle.save_progress(log.pk, token=claimed.token, counts=counts)
        # False stops dcmsend: the transfer was cancelled, or this worker is asked to stop.
        return alive and not stopping.requested.is_set()

    unwritten: list[dcmsend.FileOutcome] = []
    record = unwritten.extend

    if stopping.requested.is_set():
        return Outcome(Verdict.RELEASE, "The worker was stopped before this attempt began; queued again.")
    try:
        with staging.staging_area(transfer_id=log.pk, token=claimed.token) as area:
            send = senders.sender_for(destination, associations=log.associations)
            # Instances that must leave as staged copies (transcoded, changed): none, usually.
            plan = staged_send.staging_plan(log=log, destination=destination, rows=rows, files=files)
            if plan.items:
                report = staged_send.send_staged(
                    send=send,
                    destination=destination,
                    files=files,
                    plan=plan,
                    rows=rows,
                    progress=progress,
                    record=record,
                    staging=area,
                    tick=settings.TRANSFER_PROGRESS_INTERVAL,
                )
            else:
                report = send(destination=destination, files=files, progress=progress, record=record, staging=area)
    except AddressError as e:
        return Outcome(
            Verdict.FAILED,
            "The destination's settings are not valid for DCMTK: " + " ".join(e.messages),
            fields=everything_failed,
        )
    return _Sent(report, rows, unwritten)


def _all_present(directory: Path, relative_paths: list[str]) -> bool:
    """Whether every file is there: one listing per folder, not a ``stat`` per file (1,000 of
    those cost 6 ms of a send; this, about 1)."""
    present: dict[str, set[str]] = {}
    for relative in relative_paths:
        folder, name = os.path.split(relative)
        names = present.get(folder)
        if names is None:
            try:
                with os.scandir(directory / folder) as entries:
                    names = {entry.name for entry in entries if entry.is_file()}
            except OSError:
                names = set()
            present[folder] = names
        if name not in names:
            return False
    return True


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
            **({"url": claimed.destination.url} if claimed.destination.is_dicomweb else {}),
        },
        "started_at": log.heartbeat_at.isoformat() if log.heartbeat_at else None,
        "finished_at": timezone.now().isoformat(),
        "duration_s": round(report.duration_s, 3),
        "associations": log.associations,
        "acknowledged": report.acknowledged,
        "refused": report.refused,
        "not_sent": report.not_sent,
        "outcome": _attempt_outcome(report),
        "detail": report.detail[:500],
    }


def _attempt_outcome(report: dcmsend.SendReport) -> str:
    if report.success:
        return "success"
    if report.failure is dcmsend.Failure.CANCELLED and stopping.requested.is_set():
        return "released"  # the worker was stopped; not counted as an attempt
    return report.failure.value if report.failure else "failed"


def outcome_of(log: TransferLog, report: dcmsend.SendReport | None, claimed: lifecycle.Claim) -> Outcome:
    """The policy: what an attempt's report (None: nothing was left to send) and the ledger mean
    for the transfer. Counts are the transfer's, over every attempt: the ledger's."""
    summary = ledger.ledger_summary(log)
    counts = summary.counts
    details = dict(log.details or {})
    if report is not None:
        details["attempts"] = [*details.get("attempts", []), _attempt_entry(log, claimed, report)]
        refused = [o for o in report.instances if o.status is not None and not o.acknowledged]
        if refused:
            details["refused_instances"] = [
                {"sop_instance_uid": o.sop_instance_uid, "status": f"0x{o.status:04X}", "text": o.text}
                for o in refused[:1000]
                if o.status is not None
            ]
        # A final outcome counts every instance not stored as failed; an attempt that will be followed
        # by another, or was cancelled, counts only those refused or unsendable.
        if summary.transcoded:
            details["transcoded"] = summary.transcoded  # per (from, to) syntax; each instance's in the ledger
    held_back = counts[Delivery.HELD_BACK]
    if held_back:
        details["held_back"] = held_back
    final = {
        "instances_sent": counts.delivered,
        "byte_count": summary.bytes_delivered,
        "instances_failed": log.instance_count - counts.delivered - held_back,
        "details": details,
    }
    interim = {**final, "instances_failed": counts[Delivery.REFUSED] + counts[Delivery.UNSENDABLE]}
    if report is not None and report.failure is dcmsend.Failure.CANCELLED:
        if stopping.requested.is_set():
            message = f"The worker was stopped; {counts.delivered} of {log.instance_count} instances were stored. "
            return Outcome(Verdict.RELEASE, message + "Queued again for the rest.", report=report, fields=interim)
        return Outcome(Verdict.CANCELLED, report=report, fields=interim)
    whole = _whole_transfer(report, log, counts)
    went_through = report is None or report.success or report.failure in _EVERY_FILE_TRIED
    answered = report is not None and (report.acknowledged or report.refused or report.unsendable)
    if went_through and counts[Delivery.UNSENDABLE]:
        # A damaged file fails alone, and at once: another attempt would not read it either.
        message = _unsendable_message(log, counts)
        return Outcome(Verdict.FAILED, message, report=report, fields=final, reachable=bool(answered) or None)
    if went_through and not counts.to_send:
        # Held back by this send's changes (de-identification): the destination does not have the
        # whole series, and the transfer says so and why.
        message = _held_back_message(log, counts) if held_back else ""
        return Outcome(Verdict.SUCCESS, message, report=report, fields=final, reachable=bool(answered) or None)
    failure = whole.failure or dcmsend.Failure.OTHER
    message = failure_message(whole, log)
    no_connection = failure is dcmsend.Failure.CONNECTION_REFUSED
    if failure.transient:
        delay = _retry_delay(log, claimed.destination, refused=no_connection)
        if whole.retry_after is not None:
            delay = whole.retry_after  # the server said when (an HTTP Retry-After)
        if (timezone.now() - log.timestamp).total_seconds() + delay <= settings.TRANSFER_RETRY_FOR:
            return Outcome(
                Verdict.REQUEUE,
                f"{message} Attempt {log.attempt}; trying again in {_duration(delay)}.",
                delay=delay,
                report=report,
                fields=interim,
                reachable=False if no_connection else None,
            )
        message += f" Gave up after trying for {_duration(settings.TRANSFER_RETRY_FOR)}."
    return Outcome(Verdict.FAILED, message, report=report, fields=final, reachable=False if no_connection else None)


def _retry_delay(log: TransferLog, destination: Destination, *, refused: bool) -> float:
    """Exponential backoff to a ceiling; a destination that refuses connections is tried again at
    its next probe (``reachability``), shared by all its transfers."""
    if refused and not destination.reachable and destination.next_probe_at is not None:
        return max(0.0, (destination.next_probe_at - timezone.now()).total_seconds())
    if refused:
        return float(settings.TRANSFER_RETRY_BACKOFF)
    backoff = settings.TRANSFER_RETRY_BACKOFF * (2 ** min(log.attempt - 1, 30))
    return float(min(settings.TRANSFER_RETRY_BACKOFF_MAX, backoff))


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.3g} s"


_EVERY_FILE_TRIED = (dcmsend.Failure.INSTANCES_REFUSED, dcmsend.Failure.UNSENDABLE)


def _whole_transfer(
    report: dcmsend.SendReport | None, log: TransferLog, counts: ledger.LedgerCounts
) -> dcmsend.SendReport:
    """The attempt's report with the transfer's totals (an attempt sends only what was left)."""
    if report is None:
        return dcmsend.SendReport(total=log.instance_count, acknowledged=counts.delivered)
    return replace(report, total=log.instance_count, acknowledged=counts.delivered, refused=counts[Delivery.REFUSED])


_NO_COPY = ("Transcoding from", "A staged copy")  # staged_send's reasons


def _held_back_message(log: TransferLog, counts: ledger.LedgerCounts) -> str:
    count = counts[Delivery.HELD_BACK]
    examples = ledger.ledger_examples(log.pk, Delivery.HELD_BACK)
    named = "; ".join(f"{uid}: {reason}" for uid, reason in examples) + ("; ..." if count > len(examples) else "")
    return (
        f"{count} of {log.instance_count} instance{'s' if log.instance_count != 1 else ''} "
        f"{'was' if count == 1 else 'were'} held back and not sent to this destination ({named}); "
        f"{counts.delivered} were stored."
    )


def _unsendable_message(log: TransferLog, counts: ledger.LedgerCounts) -> str:
    count = counts[Delivery.UNSENDABLE]
    examples = ledger.ledger_examples(log.pk, Delivery.UNSENDABLE)
    named = "; ".join(f"{uid}: {reason}" for uid, reason in examples) + ("; ..." if count > len(examples) else "")
    refused = counts[Delivery.REFUSED]
    no_copy = all(reason.startswith(_NO_COPY) for _, reason in examples)
    why = (
        f"no copy the destination accepts could be made ({named})"
        if no_copy
        else f"DCMTK could not read {'its file' if count == 1 else 'their files'} ({named})"
    )
    return (
        f"{count} of {log.instance_count} instance{'s' if log.instance_count != 1 else ''} could not be sent: "
        f"{why}. {counts.delivered} were stored"
        + (f", {refused} refused by the destination" if refused else "")
        + (
            ". Change the destination's transfer-syntax policy, or send them elsewhere."
            if no_copy
            else f". Import {'it' if count == 1 else 'them'} again from the source, then send."
        )
    )


def outcome_record(claimed: lifecycle.Claim, outcome: Outcome) -> None:
    """Write how the attempt ended. A transfer cancelled meanwhile stays cancelled, with what got
    through recorded (a user must not believe nothing reached the PACS when it all did)."""
    log, token, verdict = claimed.log, claimed.token, outcome.verdict
    if outcome.reachable is False and log.destination_id is not None:
        reachability.mark_unreachable(log.destination_id, outcome.message)
    elif outcome.reachable and not claimed.destination.reachable and log.destination_id is not None:
        reachability.mark_reachable(log.destination_id)
    started = log.started_at
    if verdict is Verdict.SUCCESS:
        won = lifecycle.finish(
            log.pk, token=token, status=Status.SUCCESS, message=outcome.message, started_at=started, **outcome.fields
        )
    elif verdict is Verdict.REQUEUE:
        won = lifecycle.requeue(log.pk, token=token, message=outcome.message, delay=outcome.delay, **outcome.fields)
    elif verdict is Verdict.FAILED:
        won = lifecycle.finish(
            log.pk, token=token, status=Status.FAILED, message=outcome.message, started_at=started, **outcome.fields
        )
    elif verdict is Verdict.RELEASE:
        won = lifecycle.release(log.pk, token=token, message=outcome.message, **outcome.fields)
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
    fields = dict(outcome.fields)
    report = _whole_transfer(report, log, ledger.ledger_counts(log.pk))
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
    if report.message and failure is not dcmsend.Failure.INSTANCES_REFUSED:
        return f"{report.message} {sent}"  # the transport's own words (DICOMweb: the URL, the HTTP status)
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
    if failure is dcmsend.Failure.TLS:
        return f"{report.detail} {sent}"
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
