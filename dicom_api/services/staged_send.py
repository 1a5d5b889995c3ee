"""Sending what must leave as a staged copy: transcoded to a syntax the destination accepts (or
its policy wants), changed by the send's instance changes (``instance_changes``), never the
stored file.

``staging_plan`` says which instances need a copy (``syntax_policy.choice_for``, and every
instance when a change applies to this send). ``send_staged`` then sends, through the
destination's own ``Sender``:

1. the instances that need nothing, from the import, in one run as before;
2. the others in chunks (``CHUNK_INSTANCES`` instances or ``CHUNK_BYTES`` of copies, whichever
   comes first), each its own run of the sender: dcmsend needs its whole file list when it
   starts (it reads every header to propose its contexts). A thread makes the copies of the next
   chunk while the current one is sent; at most one chunk waits ready, so at most three chunks of
   copies are on disk at once, and each chunk's copies are removed as soon as its run ends.

Every run answers its own ``SendReport``; they are added up into one, by the positions of
``files``, so the ledger, the policy, progress and cancel are as for any send. A copy that can't
be made fails that instance alone (``unsendable``, the reason naming the syntaxes and why) when
the destination does not accept the stored syntax; when the syntax was only the policy's
preference, the stored file is sent instead. An instance a change holds back (``HeldBack``) is
not sent; the ledger says ``held_back`` with the reason.

The staging thread only reads files and writes copies: the database is written by the caller's
thread, between runs (``InstanceChange.apply`` must not use the database).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from destinations.models import Destination
from dicom_api.models import DicomInstance, TransferLog
from dicom_api.services import instance_changes, syntax_policy
from dicom_api.services import transfer_ledger as ledger
from dicom_api.services.staging import StagingArea
from dicomnet import dcmsend
from dicomnet.addresses import AddressError
from dicomnet.transcode import StagedCopy, TranscodeError, stage_copy, syntax_name

logger = logging.getLogger(__name__)

CHUNK_INSTANCES = 32
CHUNK_BYTES = 64 << 20
_STOPPING = (None, dcmsend.Failure.INSTANCES_REFUSED, dcmsend.Failure.UNSENDABLE)  # a run that goes on


@dataclass(frozen=True)
class Item:
    """One instance that leaves as a staged copy."""

    index: int  # its position in the attempt's files (and ledger rows)
    source: Path
    stored: str
    choice: syntax_policy.Choice


@dataclass
class Plan:
    items: list[Item]
    changes: list[instance_changes.InstanceChange]


def staging_plan(
    *, log: TransferLog, destination: Destination, rows: list[ledger.LedgerRow], files: list[Path]
) -> Plan:
    """Which of ``files`` leave as staged copies, in which syntax. Probes the destination (short
    timeouts) when its record does not say what it accepts for a SOP class this needs."""
    changes = instance_changes.changes_for(log=log, destination=destination)
    series = DicomInstance.objects.filter(
        import_session_id=log.import_session_id, series_instance_uid=log.series_instance_uid
    ).order_by()
    # The rule depends on the (SOP class, stored syntax) pair alone, and a series has one or two.
    pairs = set(series.values_list("sop_class_uid", "transfer_syntax_uid").distinct())
    if syntax_policy.needs_probe(destination, pairs):
        # Whatever is wrong with the destination's address, the send itself says.
        with contextlib.suppress(AddressError, ValueError):
            syntax_policy.destination_probe(
                destination=destination, sop_classes=sorted({sop_class for sop_class, _ in pairs}), quick=True
            )
    accepted = (destination.accepted_transfer_syntaxes or {}).get("sop_classes")
    choices = {
        (sop_class, syntax): syntax_policy.choice_for(
            stored=syntax,
            sop_class=sop_class,
            policy=destination.transfer_syntax_policy,
            lossy_allowed=destination.lossy_allowed,
            accepted=accepted,
        )
        if syntax
        else syntax_policy.Choice(None)
        for sop_class, syntax in pairs
    }
    if not changes and all(choice.syntax is None for choice in choices.values()):
        return Plan([], changes)  # the usual case: every file leaves as stored, from the import
    stored = {
        sop: (sop_class, syntax)
        for sop, sop_class, syntax in series.values_list("sop_instance_uid", "sop_class_uid", "transfer_syntax_uid")
    }
    items = []
    for index, row in enumerate(rows):
        sop_class, syntax = stored.get(row.sop_instance_uid, ("", ""))
        choice = choices.get((sop_class, syntax), syntax_policy.Choice(None))
        if choice.syntax is not None or changes:
            items.append(Item(index, files[index], syntax, choice))
    return Plan(items, changes)


@dataclass
class Prepared:
    """What became of one item in the staging thread."""

    item: Item
    path: Path | None = None  # what is sent (None: nothing)
    copy: StagedCopy | None = None
    failure: str = ""  # no copy could be made: unsendable, for this reason
    held_back: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)


def prepare(item: Item, folder: Path, changes: list[instance_changes.InstanceChange]) -> Prepared:
    """The staged copy of one instance (in the staging thread)."""
    records: list[dict[str, Any]] = []

    def edit(dataset: Any) -> None:
        records.clear()
        for change in changes:
            record = change.apply(dataset)
            if record is not None:
                records.append({"change": change.name, **record})

    target = folder / f"{item.index:07d}.dcm"
    syntax = item.choice.syntax
    try:
        try:
            copy = stage_copy(item.source, target, syntax=syntax, edit=edit if changes else None)
        except TranscodeError as e:
            wanted = f"{syntax_name(item.stored)} to {syntax_name(syntax or item.stored)}"
            if item.choice.required or syntax is None:
                return Prepared(item, failure=f"Transcoding from {wanted} failed: {e.reason}.")
            logger.info("staging: instance %d kept in its own syntax (%s)", item.index, e.reason)
            if not changes:
                return Prepared(item, path=item.source)  # the policy's preference only: sent as stored
            copy = stage_copy(item.source, target, syntax=None, edit=edit)
    except instance_changes.HeldBack as e:
        return Prepared(item, held_back=e.reason)
    except TranscodeError as e:
        return Prepared(item, failure=f"A staged copy could not be made: {e.reason}.")
    return Prepared(item, path=copy.path, copy=copy, changes=list(records))


class _Staging(threading.Thread):
    """Makes the copies, chunk by chunk, a chunk ahead of the sender."""

    def __init__(self, plan: Plan, folder: Path) -> None:
        super().__init__(name="staging", daemon=True)
        self.plan, self.folder = plan, folder
        self.chunks: queue.Queue[list[Prepared] | BaseException | None] = queue.Queue(maxsize=1)
        self.stop = threading.Event()

    def _put(self, value: list[Prepared] | BaseException | None) -> bool:
        while not self.stop.is_set():
            try:
                self.chunks.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        chunk: list[Prepared] = []
        size = 0
        try:
            for item in self.plan.items:
                if self.stop.is_set():
                    return
                prepared = prepare(item, self.folder, self.plan.changes)
                chunk.append(prepared)
                size += prepared.copy.path.stat().st_size if prepared.copy is not None else 0
                if len(chunk) >= CHUNK_INSTANCES or size >= CHUNK_BYTES:
                    if not self._put(chunk):
                        return
                    chunk, size = [], 0
            if chunk and not self._put(chunk):
                return
            self._put(None)
        except BaseException as e:
            self._put(e)


Send = Callable[..., dcmsend.SendReport]


@dataclass
class _Total:
    """The runs of one attempt added up, by positions of the attempt's files."""

    report: dcmsend.SendReport
    stopped: bool = False
    held_back: int = 0

    def add(self, run: dcmsend.SendReport) -> None:
        report = self.report
        report.acknowledged += run.acknowledged
        report.refused += run.refused
        report.instances += run.instances
        report.duration_s += run.duration_s
        report.exit_code = run.exit_code
        if run.failure not in _STOPPING:
            report.failure, report.detail, report.rejection = run.failure, run.detail, run.rejection
            self.stopped = True


def send_staged(
    *,
    send: Send,
    destination: Destination,
    files: list[Path],
    plan: Plan,
    rows: list[ledger.LedgerRow],
    progress: dcmsend.ProgressCallback,
    record: Callable[[list[dcmsend.FileOutcome]], None],
    staging: StagingArea,
    tick: float,
) -> dcmsend.SendReport:
    total = _Total(dcmsend.SendReport(total=len(files)))

    def run(indices: list[int], paths: list[Path]) -> None:
        base_acknowledged, base_refused = total.report.acknowledged, total.report.refused

        def remapped(outcomes: list[dcmsend.FileOutcome]) -> None:
            moved = [dcmsend.FileOutcome(indices[o.index], o.sent, o.status, o.text) for o in outcomes]
            total.report.files += moved
            record(moved)

        def counted(acknowledged: int, refused: int) -> bool:
            return progress(base_acknowledged + acknowledged, base_refused + refused)

        total.add(send(destination=destination, files=paths, progress=counted, record=remapped, staging=staging))

    planned = {item.index for item in plan.items}
    direct = [index for index in range(len(files)) if index not in planned]
    if direct:
        run(direct, [files[index] for index in direct])
    staging_thread = _Staging(plan, staging.copies)
    try:
        if not total.stopped:
            staging_thread.start()
        while not total.stopped:
            chunk = _next_chunk(staging_thread, total, progress, tick)
            if chunk is None:
                break
            _send_chunk(chunk, rows, run, total, record)
            for change in plan.changes:
                change.settle()  # what the staging thread's changes collected, written here
    finally:
        staging_thread.stop.set()
        if staging_thread.is_alive():
            staging_thread.join(timeout=30)
        for path in staging.copies.iterdir():
            path.unlink(missing_ok=True)
    return _finish(total)


def _next_chunk(
    thread: _Staging, total: _Total, progress: dcmsend.ProgressCallback, tick: float
) -> list[Prepared] | None:
    """The next chunk of copies, the heartbeat kept (and a cancel seen) while it is made."""
    while True:
        try:
            value = thread.chunks.get(timeout=tick)
        except queue.Empty:
            if not progress(total.report.acknowledged, total.report.refused):
                total.report.failure, total.report.detail = dcmsend.Failure.CANCELLED, "cancelled"
                total.stopped = True
                return None
            continue
        if isinstance(value, BaseException):
            raise value
        return value


def _send_chunk(
    chunk: list[Prepared],
    rows: list[ledger.LedgerRow],
    run: Callable[[list[int], list[Path]], None],
    total: _Total,
    record: Callable[[list[dcmsend.FileOutcome]], None],
) -> None:
    failed = [dcmsend.FileOutcome(p.item.index, False, None, p.failure) for p in chunk if p.failure]
    if failed:
        total.report.files += failed
        record(failed)
    held = [(p.item.index, p.held_back) for p in chunk if p.held_back]
    total.held_back += len(held)
    ledger.ledger_held_back(rows, held)
    ledger.ledger_staged(
        rows,
        [
            (
                p.item.index,
                p.copy.transfer_syntax_from if p.copy.transcoded else "",
                p.copy.transfer_syntax_to if p.copy.transcoded else "",
                p.changes or None,
            )
            for p in chunk
            if p.copy is not None and (p.copy.transcoded or p.changes)
        ],
    )
    sendable = [p for p in chunk if p.path is not None]
    try:
        if sendable:
            run([p.item.index for p in sendable], [p.path for p in sendable if p.path is not None])
    finally:
        for p in chunk:
            if p.copy is not None:
                p.copy.path.unlink(missing_ok=True)  # acknowledged (or not): this copy is done


def _finish(total: _Total) -> dcmsend.SendReport:
    report = total.report
    report.total -= total.held_back
    if report.failure is None and report.refused:
        report.failure = dcmsend.Failure.INSTANCES_REFUSED
    if report.failure is None and report.unsendable:
        report.failure = dcmsend.Failure.UNSENDABLE
        report.detail = report.detail or "some instances could not be sent"
    if report.failure is None and report.acknowledged < report.total:
        report.failure = dcmsend.Failure.OTHER
        report.detail = report.detail or "the send ended before every instance was acknowledged"
    return report
