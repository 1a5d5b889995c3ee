"""Transfers: one ``TransferLog`` (action ``send``) per series × destination, run by a worker.

State machine of a transfer's log::

    pending ──claim──▶ sending ──▶ success
       ▲                  │   └──▶ failed      (permanent failure, or retries exhausted)
       └──── retry ───────┘   └──▶ pending     (transient failure: queued again with backoff)
    pending/sending ──cancel──▶ cancelled

Every transition is one conditional UPDATE (``WHERE status = ...``), so a web process and any
number of workers can race without two of them owning the same transfer.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q
from django.http import HttpRequest
from django.utils import timezone

from destinations.models import Destination
from destinations.validators import is_ipv6_address
from dicom_api.audit import client_address, destination_snapshot
from dicom_api.dcmtk import dcmsend
from dicom_api.dcmtk.echoscu import EchoCategory, echo
from dicom_api.models import (
    ACTIVE_STATUSES,
    Action,
    DicomInstance,
    ImportSession,
    Status,
    TransferLog,
    WorkerHeartbeat,
)
from dicom_api.wakeup import notify_workers

logger = logging.getLogger(__name__)


class TransferError(Exception):
    """A request about transfers that can't be carried out; ``field`` names what is wrong."""

    def __init__(self, message: str, *, field: str | None = None, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status_code = status_code


# --- Creating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SeriesSummary:
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    patient_name: str
    series_description: str
    modality: str
    instance_count: int


def _series_of(import_session: ImportSession, series_uids: Sequence[str]) -> dict[str, _SeriesSummary]:
    """What the audit snapshots of each series, in one query (fields that vary inside a series,
    which they should not, take the value of the first group)."""
    fields = (
        "series_instance_uid",
        "study_instance_uid",
        "patient_id",
        "patient_name",
        "series_description",
        "modality",
    )
    rows = (
        DicomInstance.objects.filter(import_session=import_session, series_instance_uid__in=series_uids)
        .values(*fields)
        .annotate(count=Count("id"))
        .order_by(*fields)
    )
    summaries: dict[str, _SeriesSummary] = {}
    for row in rows:
        uid = row["series_instance_uid"]
        if uid in summaries:
            previous = summaries[uid]
            summaries[uid] = replace(previous, instance_count=previous.instance_count + row["count"])
        else:
            summaries[uid] = _SeriesSummary(**{field: row[field] for field in fields}, instance_count=row["count"])
    return summaries


def transfers_create(
    *,
    user: User,
    import_id: Any,
    series_instance_uids: Sequence[str],
    destination_ids: Sequence[int],
    request: HttpRequest | None = None,
    extra_details: dict[str, Any] | None = None,
) -> list[TransferLog]:
    """Validate a send request and queue one transfer per series × destination."""
    with transaction.atomic():
        # The row lock keeps a concurrent DELETE or expiry from removing the import under us.
        import_session = ImportSession.objects.select_for_update().filter(pk=import_id, owner=user).first()
        if import_session is None:
            raise TransferError("No such import of yours (it may have expired).", field="import_id")
        unique_series = list(dict.fromkeys(series_instance_uids))
        unique_destinations = list(dict.fromkeys(destination_ids))
        series = _series_of(import_session, unique_series)
        missing = [uid for uid in unique_series if uid not in series]
        if missing:
            raise TransferError(
                f"{len(missing)} of the series {'is' if len(missing) == 1 else 'are'} not in this import: "
                f"{', '.join(missing[:5])}",
                field="series_instance_uids",
            )
        destinations = {d.pk: d for d in Destination.objects.filter(pk__in=unique_destinations)}
        unknown = [str(pk) for pk in unique_destinations if pk not in destinations]
        if unknown:
            raise TransferError(f"Unknown destination id(s): {', '.join(unknown)}", field="destination_ids")
        disabled = [destinations[pk].name for pk in unique_destinations if not destinations[pk].enabled]
        if disabled:
            raise TransferError(
                f"Destination(s) disabled by an administrator: {', '.join(disabled)}", field="destination_ids"
            )
        address = client_address(request)
        logs = [
            TransferLog(
                user=user,
                username=user.get_username(),
                client_address=address,
                action=Action.SEND,
                status=Status.PENDING,
                import_session=import_session,
                patient_id=series[uid].patient_id,
                patient_name=series[uid].patient_name,
                study_instance_uid=series[uid].study_instance_uid,
                series_instance_uid=uid,
                series_description=series[uid].series_description,
                modality=series[uid].modality,
                instance_count=series[uid].instance_count,
                details={"import_id": str(import_session.pk), "attempts": [], **(extra_details or {})},
                **destination_snapshot(destinations[pk]),
            )
            for uid in unique_series
            for pk in unique_destinations
        ]
        for log in logs:
            log.save()
            _enqueue_on_commit(log.pk)
    logger.info("queued %d transfer(s) (ids %s) for user %s", len(logs), [log.pk for log in logs], user.pk)
    return logs


def transfer_retry(*, log: TransferLog, user: User, request: HttpRequest | None = None) -> TransferLog:
    """Send a failed or cancelled transfer again, as a new transfer (once: a double click makes one)."""
    with transaction.atomic():
        log = TransferLog.objects.select_for_update().get(pk=log.pk)
        if log.status not in (Status.FAILED, Status.CANCELLED):
            raise TransferError(
                f"Only a failed or cancelled transfer can be retried; this one is {log.status}.", status_code=409
            )
        retried_by = (log.details or {}).get("retried_by")
        if retried_by:
            raise TransferError(f"This transfer was already retried as transfer {retried_by}.", status_code=409)
        if log.import_session_id is None:
            raise TransferError(
                "The import of this transfer has expired or was deleted; import the files again.", status_code=409
            )
        if log.destination_id is None:
            raise TransferError("The destination of this transfer was deleted.", status_code=409)
        try:
            (new,) = transfers_create(
                user=user,
                import_id=log.import_session_id,
                series_instance_uids=[log.series_instance_uid],
                destination_ids=[log.destination_id],
                request=request,
                extra_details={"retry_of": log.pk},
            )
        except TransferError as e:  # the import or destination changed since: a conflict, not bad input
            raise TransferError(e.message, status_code=409) from e
        log.details = {**(log.details or {}), "retried_by": new.pk}
        log.save(update_fields=["details"])
    return new


def transfer_cancel(*, log: TransferLog) -> TransferLog:
    """Stop a pending or sending transfer. A worker sending it sees the change and kills dcmsend."""
    updated = TransferLog.objects.filter(pk=log.pk, status__in=ACTIVE_STATUSES).update(
        status=Status.CANCELLED,
        completed_at=timezone.now(),
        error_message="Cancelled by the user.",
    )
    log.refresh_from_db()
    if not updated:
        raise TransferError(f"This transfer has already finished ({log.status}).", status_code=409)
    logger.info("transfer %s cancelled", log.pk)
    return log


# --- Queueing ----------------------------------------------------------------------------------


def _enqueue(log_id: int, delay: float = 0.0) -> None:
    from dicom_api.tasks import send_transfer

    if delay > 0:
        send_transfer.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(log_id)
    else:
        send_transfer.enqueue(log_id)
        notify_workers()


def _enqueue_on_commit(log_id: int, delay: float = 0.0) -> None:
    transaction.on_commit(lambda: _enqueue(log_id, delay))


# --- Running (in a worker) -----------------------------------------------------------------------


def _stale_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.TRANSFER_STALE_AFTER)


def _claim(log_id: int, worker_id: str) -> TransferLog | None:
    """pending → sending, if the destination has a free association slot. None: not ours to run."""
    with transaction.atomic():
        log = TransferLog.objects.select_for_update().filter(pk=log_id, action=Action.SEND).first()
        if log is None or log.status != Status.PENDING:
            return None
        if log.destination_id is None:
            _finish(log, Status.FAILED, "The destination was deleted before the transfer started.", owner=None)
            return None
        destination = Destination.objects.select_for_update().filter(pk=log.destination_id).first()
        if destination is None or not destination.enabled:
            _finish(log, Status.FAILED, "The destination was disabled before the transfer started.", owner=None)
            return None
        busy = TransferLog.objects.filter(
            destination_id=destination.pk, status=Status.SENDING, heartbeat_at__gte=_stale_before()
        ).count()
        if busy >= settings.TRANSFER_MAX_CONCURRENT_PER_DESTINATION:
            # Every slot of this destination is taken: look again later, the later the more
            # transfers wait for it (so a long queue does not turn into a busy poll of the database).
            waiting = TransferLog.objects.filter(destination_id=destination.pk, status=Status.PENDING).count()
            delay = min(10.0, 0.5 + 0.05 * waiting) * (1 + random.random())  # jitter
            _enqueue_on_commit(log.pk, delay=delay)
            return None
        now = timezone.now()
        TransferLog.objects.filter(pk=log.pk, status=Status.PENDING).update(
            status=Status.SENDING,
            attempt=F("attempt") + 1,
            heartbeat_at=now,
            worker_id=worker_id[:64],
            instances_sent=0,
            instances_failed=0,
            error_message="",
        )
        log.refresh_from_db()
        # Send to the destination as it is now (an admin may have edited it since the request).
        log.destination = destination
        return log


def _finish(log: TransferLog, status: Status, message: str, *, owner: str | None, **fields: Any) -> bool:
    """Move ``log`` out of sending (or pending); only its owning worker may. True if it did."""
    query = TransferLog.objects.filter(pk=log.pk)
    query = query.filter(status=Status.SENDING, worker_id=owner) if owner else query.filter(status=Status.PENDING)
    return bool(
        query.update(
            status=status,
            error_message=message,
            completed_at=timezone.now() if status != Status.PENDING else None,
            **fields,
        )
    )


def transfer_run(*, log_id: int, worker_id: str) -> None:
    """Claim and send one transfer. Called by the ``send_transfer`` job."""
    log = _claim(log_id, worker_id)
    if log is None:
        return
    destination = log.destination
    assert destination is not None
    logger.info("transfer %s: attempt %s started by worker %s", log.pk, log.attempt, worker_id)
    # Paths only, not model instances: a 2,000-instance series is loaded in milliseconds.
    directory = ImportSession(pk=log.import_session_id).directory
    files = [
        directory / relative_path
        for relative_path in DicomInstance.objects.filter(
            import_session_id=log.import_session_id, series_instance_uid=log.series_instance_uid
        )
        .order_by("instance_number", "id")
        .values_list("relative_path", flat=True)
    ]
    missing = sum(1 for path in files if not path.is_file())
    if log.import_session_id is None or not files or missing:
        _finish(
            log,
            Status.FAILED,
            "The files of this series are no longer on the server (the import expired or was deleted). "
            "Import them again and send.",
            owner=worker_id,
            instances_failed=log.instance_count,
        )
        return

    last_saved = [0, 0]

    def progress(acknowledged: int, refused: int) -> bool:
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if [acknowledged, refused] != last_saved:
            fields.update(instances_sent=acknowledged, instances_failed=refused)
            last_saved[:] = [acknowledged, refused]
        # Zero rows: the transfer was cancelled (or taken over after we looked dead): stop.
        return bool(TransferLog.objects.filter(pk=log.pk, status=Status.SENDING, worker_id=worker_id).update(**fields))

    if is_ipv6_address(destination.host):
        _finish(
            log,
            Status.FAILED,
            "DCMTK 3.6.7 can't connect to an IPv6 address: give the destination a host name or an IPv4 address.",
            owner=worker_id,
            instances_failed=log.instance_count,
        )
        return
    try:
        report = _send(destination, files, progress)
    except ValidationError as e:
        _finish(
            log,
            Status.FAILED,
            "The destination's settings are not valid for DCMTK: " + " ".join(e.messages),
            owner=worker_id,
            instances_failed=log.instance_count,
        )
        return
    _record_outcome(log, report, worker_id)


def _send(destination: Destination, files: list[Path], progress: dcmsend.ProgressCallback) -> dcmsend.SendReport:
    report = dcmsend.send_files(
        files=files,
        called_ae=destination.ae_title,
        host=destination.host,
        port=destination.port,
        calling_ae=settings.DICOM_CALLING_AE,
        connect_timeout=settings.DICOM_CONNECT_TIMEOUT,
        acse_timeout=settings.DICOM_ACSE_TIMEOUT,
        dimse_timeout=settings.DICOM_DIMSE_TIMEOUT,
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
            ae_title=destination.ae_title,
            host=destination.host,
            port=destination.port,
            connect_timeout=min(settings.DICOM_CONNECT_TIMEOUT, limit),
            acse_timeout=limit,
            dimse_timeout=limit,
        )
        if diagnosis.category is EchoCategory.REJECTED:
            report.detail = diagnosis.message
            if "transient" in diagnosis.message.lower():
                report.failure = dcmsend.Failure.PEER_BUSY
    return report


def _record_outcome(log: TransferLog, report: dcmsend.SendReport, worker_id: str) -> None:
    failed = report.total - report.acknowledged
    attempt = {
        "attempt": log.attempt,
        "worker": worker_id,
        "started_at": log.heartbeat_at.isoformat() if log.heartbeat_at else None,
        "finished_at": timezone.now().isoformat(),
        "duration_s": round(report.duration_s, 3),
        "acknowledged": report.acknowledged,
        "refused": report.refused,
        "not_sent": report.not_sent,
        "outcome": "success" if report.success else (report.failure.value if report.failure else "failed"),
        "detail": report.detail[:500],
    }
    details = dict(log.details or {})
    details["attempts"] = [*details.get("attempts", []), attempt]
    refused = [o.sop_instance_uid for o in report.instances if o.status is not None and not o.acknowledged]
    if refused:
        details["refused_instances"] = [
            {"sop_instance_uid": o.sop_instance_uid, "status": f"0x{o.status:04X}", "text": o.text}
            for o in report.instances
            if o.status is not None and not o.acknowledged
        ][:1000]
    # A final failure counts every instance not stored; a transfer that will be tried again, or
    # was cancelled, counts only those the destination refused.
    counts = {"instances_sent": report.acknowledged, "instances_failed": failed, "details": details}
    interim = {**counts, "instances_failed": report.refused}

    if report.success:
        if _finish(log, Status.SUCCESS, "", owner=worker_id, **counts):
            logger.info(
                "transfer %s: success, %d instance(s) in %.2f s", log.pk, report.acknowledged, report.duration_s
            )
        else:
            _record_after_cancel(log, report, interim)
        return
    if report.failure is dcmsend.Failure.CANCELLED:
        _record_after_cancel(log, report, interim)
        return
    assert report.failure is not None
    message = failure_message(report, log)
    if report.failure.transient and log.attempt < settings.TRANSFER_MAX_ATTEMPTS:
        delay = settings.TRANSFER_RETRY_BACKOFF * (2 ** (log.attempt - 1))
        retry_message = (
            f"{message} Attempt {log.attempt} of {settings.TRANSFER_MAX_ATTEMPTS}; trying again in {delay:g} s."
        )
        with transaction.atomic():
            if _finish(log, Status.PENDING, retry_message, owner=worker_id, **interim):
                _enqueue_on_commit(log.pk, delay=delay)
            else:
                _record_after_cancel(log, report, interim)
        logger.info("transfer %s: %s, retry in %g s", log.pk, report.failure.value, delay)
        return
    if not _finish(log, Status.FAILED, message, owner=worker_id, **counts):
        _record_after_cancel(log, report, interim)
    logger.info("transfer %s: failed (%s) after %d attempt(s)", log.pk, report.failure.value, log.attempt)


def _record_after_cancel(log: TransferLog, report: dcmsend.SendReport, counts: dict[str, Any]) -> None:
    """The transfer was cancelled while this attempt ran: keep ``cancelled``, but record what got
    through (a user must not believe nothing reached the PACS when it all did)."""
    fields = dict(counts)
    if report.success:
        fields["error_message"] = (
            f"Cancelled by the user, but all {report.total} instances had already been stored by the destination."
        )
    elif report.acknowledged:
        fields["error_message"] = (
            f"Cancelled by the user; {report.acknowledged} of {report.total} instances had been stored."
        )
    # A retry of the cancelled transfer may have been recorded meanwhile: leave that row alone then.
    TransferLog.objects.filter(pk=log.pk, status=Status.CANCELLED).exclude(details__has_key="retried_by").update(
        **fields
    )
    logger.info("transfer %s: stopped after cancel (%d acknowledged)", log.pk, report.acknowledged)


def failure_message(report: dcmsend.SendReport, log: TransferLog) -> str:
    """A sentence a person can act on."""
    where = f"{log.destination_host}:{log.destination_port}"
    ae = log.destination_ae_title
    failure = report.failure
    sent = f"{report.acknowledged} of {report.total} instances were acknowledged."
    if failure is dcmsend.Failure.CONNECTION_REFUSED:
        return f"Nothing accepts connections at {where}: is the DICOM service running and is the port right?"
    if failure is dcmsend.Failure.HOST_NOT_FOUND:
        return f"The host name {log.destination_host!r} could not be resolved: check the destination's host."
    if failure is dcmsend.Failure.ASSOCIATION_REJECTED:
        if report.detail.startswith("The peer at"):
            return report.detail  # the C-ECHO's diagnosis, with its advice
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


# --- Housekeeping --------------------------------------------------------------------------------


def transfer_recover_stale() -> int:
    """Sending transfers whose worker stopped beating: queue them again, or fail them."""
    recovered = 0
    stale = TransferLog.objects.filter(action=Action.SEND, status=Status.SENDING).filter(
        Q(heartbeat_at__lt=_stale_before()) | Q(heartbeat_at__isnull=True)
    )
    for log in stale:
        message = (
            f"The worker sending this transfer stopped responding (attempt {log.attempt} of "
            f"{settings.TRANSFER_MAX_ATTEMPTS})."
        )
        details = dict(log.details or {})
        details["attempts"] = [
            *details.get("attempts", []),
            {
                "attempt": log.attempt,
                "worker": log.worker_id,
                "outcome": "worker_lost",
                "finished_at": timezone.now().isoformat(),
            },
        ]
        with transaction.atomic():
            if log.attempt < settings.TRANSFER_MAX_ATTEMPTS:
                done = TransferLog.objects.filter(
                    pk=log.pk, status=Status.SENDING, worker_id=log.worker_id, heartbeat_at=log.heartbeat_at
                ).update(status=Status.PENDING, error_message=message + " Queued again.", details=details, worker_id="")
                if done:
                    _enqueue_on_commit(log.pk)
            else:
                done = TransferLog.objects.filter(
                    pk=log.pk, status=Status.SENDING, worker_id=log.worker_id, heartbeat_at=log.heartbeat_at
                ).update(status=Status.FAILED, error_message=message, details=details, completed_at=timezone.now())
        if done:
            recovered += 1
            logger.warning("transfer %s: worker %s lost; recovered", log.pk, log.worker_id)
    return recovered


def transfer_requeue_lost(*, older_than: float = 60.0) -> int:
    """Pending transfers that no queued job will ever run (the web process died between its commit
    and the enqueue, or the job's worker died): queue them again.

    Several workers run this at once: each lost row is locked (``skip_locked``) by the one that
    queues it, and the queue is read after the lock, so one transfer is never queued twice.
    """
    from django_tasks_db.models import DBTaskResult

    from dicom_api.tasks import send_transfer

    now = timezone.now()
    live_workers = set(
        WorkerHeartbeat.objects.filter(last_seen__gte=now - timedelta(seconds=settings.WORKER_STALE_AFTER)).values_list(
            "worker_id", flat=True
        )
    )
    # A job claimed by a worker that died stays RUNNING in django-tasks-db for ever: fail it.
    for task_id, worker_ids in DBTaskResult.objects.filter(
        task_path=send_transfer.module_path, status="RUNNING", started_at__lt=now - timedelta(seconds=older_than)
    ).values_list("id", "worker_ids"):
        if not set(worker_ids or []) & live_workers:
            DBTaskResult.objects.filter(id=task_id, status="RUNNING").update(status="FAILED", finished_at=now)
    requeued = 0
    with transaction.atomic():
        lost = list(
            TransferLog.objects.select_for_update(skip_locked=True)
            .filter(action=Action.SEND, status=Status.PENDING, timestamp__lt=now - timedelta(seconds=older_than))
            .values_list("pk", flat=True)
        )
        if not lost:
            return 0
        waiting: set[int] = set()
        for args_kwargs in DBTaskResult.objects.filter(
            task_path=send_transfer.module_path, status__in=["READY", "RUNNING"]
        ).values_list("args_kwargs", flat=True):
            args = (args_kwargs or {}).get("args") or []
            if args and isinstance(args[0], int):
                waiting.add(args[0])
        for pk in lost:
            if pk not in waiting:
                _enqueue(pk)  # inside the transaction: committed with the lock's release
                requeued += 1
                logger.warning("transfer %s: no job was queued for it; queued again", pk)
    return requeued


def task_results_prune(*, older_than: float = 7 * 86400) -> int:
    """Finished job rows of the queue are history only (the audit trail keeps what matters)."""
    from django_tasks_db.models import DBTaskResult

    deleted, _ = DBTaskResult.objects.filter(
        status__in=["SUCCESSFUL", "FAILED"], finished_at__lt=timezone.now() - timedelta(seconds=older_than)
    ).delete()
    return deleted
