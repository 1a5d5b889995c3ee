"""C-STORE over DICOM TLS with DCMTK's ``storescu +tls`` (dcmsend 3.6.7 has no TLS options).

The same contract as ``dcmsend.send_files``: a ``SendReport`` whose ``files`` say what became of
each file (by its position in ``files``, also given to ``on_files`` as they are decided), counts
given to ``on_progress`` (False cancels: storescu's process group is killed), and the failure
classified with the same ``Failure`` values, plus ``Failure.TLS`` for a server certificate that
does not verify or a TLS handshake the server refused.

Each file is proposed in its own transfer syntax, as dcmsend does (``storescu_contexts``: an
association negotiation profile written per run). What storescu 3.6.7 prints with ``--verbose``,
file by file, in the order given::

    I: Sending file: <file>
    I: Sending Store Request (MsgID 1, CT)
    XMIT: .....                                    (stdout: a dot per PDV, then a new line)
    I: Received Store Response (Success)          (or Refused: OutOfResources, Warning: ...,
                                                    Unknown Status: 0x110 for codes it has no name for)
    E: Store Failed, file: <file>:                 then the reason on the next E: lines, e.g.
    E: 0006:020e DIMSE Failed to send message
    E: 0006:031d TCP I/O Error (Broken pipe) occurred in routine: writeDataPDU
    E: Bad DICOM file: <file>: <reason>

A store that breaks off while its data set is being written leaves ``XMIT: ..`` without its new
line, so the failure reads ``XMIT: ..E: Store Failed, file: ...``: the progress dots are dropped
before a line is read. A store that failed because the association broke (abort, timeout, a TCP
error) leaves its file undecided (pending) and ends the run at once (with ``--no-halt`` storescu
would go on failing every remaining file the same way); any other failed store (a file storescu
can't read or convert, no accepted presentation context) makes that file unsendable, and the
run goes on (``--no-halt``). The reason is every ``E:`` line after ``Store Failed`` (DCMTK's
condition and the ones it stems from), decided at the next other line or at the end.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dicomnet import storescu_contexts as contexts
from dicomnet.association import Association, AssociationRequest, NetworkFailure, network_failure, parse_rejection
from dicomnet.dcmsend import (
    _FAILURE_OF,
    STALL_MARGIN,
    Failure,
    InstanceOutcome,
    ProgressCallback,
    SendReport,
    _die_with_parent,
    _Run,
)
from dicomnet.dcmsend_files import FileOutcome, stage, status_of_response
from dicomnet.echoscu import rejection_message
from dicomnet.programs import DcmtkNotFoundError, resolve
from dicomnet.tls import TlsOptions, check_server, dcmtk_tls_failure

logger = logging.getLogger(__name__)

_MAX_FILE_ARGUMENT_BYTES = 1 << 20
_RESPONSE = re.compile(r"Received Store Response \((?P<text>.*)\)\s*$")
_PROGRESS = re.compile(r"^(XMIT: \.*)+")  # storescu's progress dots, on stdout, before a log line
_UNKNOWN_STATUS = re.compile(r"^Unknown Status: 0x(?P<code>[0-9A-Fa-f]{1,4})$")  # DU_cstoreStatusString's %x
_BROKEN = (NetworkFailure.ABORTED, NetworkFailure.TIMEOUT, NetworkFailure.UNREACHABLE)
# DCMTK's words for a connection that broke under a store (0006:031d TCP I/O Error ...).
_BROKEN_WORDS = ("tcp i/o error", "broken pipe", "connection reset", "failed to receive", "network closed")
# DCMTK's names of C-STORE statuses (DU_cstoreStatusString) that carry no code: the first code of
# the range DCMTK names that way, so the ledger keeps a status a person can look up.
_NAMED_STATUS = {
    "Refused: OutOfResources": 0xA700,
    "Refused: SOPClassNotSupported": 0x0122,
    "Error: DataSetDoesNotMatchSOPClass": 0xA900,
    "Error: CannotUnderstand": 0xC000,
    "Warning: CoersionOfDataElements": 0xB000,
    "Warning: CoercionOfDataElements": 0xB000,
    "Warning: DataSetDoesNotMatchSOPClass": 0xB007,
    "Warning: ElementsDiscarded": 0xB006,
}


def storescu_command(
    *, program: str, checked: Association, tls: TlsOptions, profile_file: Path, files: Sequence[Path]
) -> list[str]:
    """storescu's argument list: options, then the checked host and port, then our files' paths
    (absolute, or names in the staging folder; never a user value)."""
    return [
        program,
        "--verbose",
        "--no-halt",
        *checked.options(),
        *tls.options(),
        "--config-file",
        str(profile_file),
        contexts.PROFILE,
        checked.peer.host,
        str(checked.peer.port),
        *(str(path) for path in files),
    ]


class StorescuTracker:
    """Decides each file's outcome from storescu's verbose output, line by line."""

    def __init__(self, arguments: Sequence[str], indexes: Sequence[int], report: SendReport) -> None:
        self._position = {argument: index for argument, index in zip(arguments, indexes, strict=True)}
        self._uids: dict[int, str] = {}
        self.report = report
        self.current: int | None = None
        self.failed: int | None = None  # a store failed; its reason is on the next E: lines
        self.reasons: list[str] = []
        self.broken = False  # the association broke under a store: nothing more is decided
        self.detail = ""  # the last W:/E: line before a failure, DCMTK's detail
        self.outcomes: list[FileOutcome] = []
        self.decided: set[int] = set()

    def name(self, index: int, sop_instance_uid: str) -> None:
        self._uids[index] = sop_instance_uid

    def decide(self, index: int, status: int | None, text: str, *, sent: bool = True) -> None:
        if index in self.decided:
            return
        self.decided.add(index)
        self.outcomes.append(FileOutcome(index, sent, status, text))
        if not sent:
            return
        acknowledged = (status is not None and _success_or_warning(status)) or text.startswith("Warning")
        if acknowledged:
            self.report.acknowledged += 1
        else:
            self.report.refused += 1
            self.report.instances.append(InstanceOutcome(self._uids.get(index, ""), status, text))

    def feed(self, line: str) -> bool:
        """Take one line; True when the run must stop now (the association is gone)."""
        line = _PROGRESS.sub("", line)
        if self.broken:
            return True
        if self.failed is not None:
            if line.startswith("E: ") and not line.startswith("E: Store Failed, file: "):
                self.reasons.append(line[3:].strip())
                return False
            if self.finish():
                return True
        if line.startswith("I: Sending file: "):
            self.current = self._position.get(line[len("I: Sending file: ") :].strip())
            self.detail = ""
        elif (response := _RESPONSE.search(line)) is not None and self.current is not None:
            text = response.group("text")
            self.decide(self.current, response_status(text), text)
        elif line.startswith("E: Store Failed, file: "):
            self.failed, self.reasons = self.current, []
        elif line.startswith(("E: Bad DICOM file: ", "W: cannot access file: ")):
            rest = line.split(": ", 1)[1].split(": ", 1)[1] if line.count(": ") >= 2 else line
            for argument, index in self._position.items():
                if rest.startswith(argument):
                    reason = rest[len(argument) :].lstrip(":, ").removesuffix(", ignoring file")
                    self.decide(index, None, reason or "DCMTK could not read the file", sent=False)
                    break
        elif line.startswith(("W: ", "E: ")):
            self.detail = line[3:].strip()[:300]
        return False

    def finish(self) -> bool:
        """Decide the failed store whose reason lines have all arrived; True when the association
        broke under it (the file stays pending, the run must stop)."""
        if self.failed is None:
            return self.broken
        index, self.failed = self.failed, None
        reasons, self.reasons = self.reasons, []
        reason = "; ".join(reasons) or "storescu gave no reason"
        broken = network_failure(reason)
        if broken in _BROKEN or any(word in reason.lower() for word in _BROKEN_WORDS):
            self.broken = True
            if self.report.failure is None:  # a cancel or a stall said first why the run ended
                self.report.failure = _FAILURE_OF.get(broken, Failure.ABORTED) if broken in _BROKEN else Failure.ABORTED
                self.report.detail = reason[:500]
            return True
        if self.detail and self.detail not in reason:
            reason = f"{reason} ({self.detail})"
        self.decide(index, None, reason[:500], sent=False)
        self.detail = ""
        return False


def response_status(text: str) -> int | None:
    """The DIMSE status of ``Received Store Response (<text>)``: storescu names some statuses,
    prints others as ``Unknown Status: 0x<hex>`` (no leading zeros: 0x0110 is ``0x110``)."""
    unknown = _UNKNOWN_STATUS.match(text)
    if unknown is not None:
        return int(unknown.group("code"), 16)
    status = status_of_response(text)
    return status if status is not None else _NAMED_STATUS.get(text)


def _success_or_warning(status: int) -> bool:
    return status in (0x0000, 0x0001, 0x0107, 0x0116) or 0xB000 <= status <= 0xBFFF


def send_files_tls(
    *,
    files: Sequence[Path],
    request: AssociationRequest,
    tls: TlsOptions,
    program: str,
    on_progress: ProgressCallback | None = None,
    tick: float = 0.5,
    on_files: Callable[[list[FileOutcome]], None] | None = None,
    work_dir: Path | None = None,
    check_timeout: float | None = None,
) -> SendReport:
    """Send ``files`` over TLS to the peer of ``request``; one association per run of files whose
    presentation contexts fit one (nearly always a single one). Before anything is sent, the
    server's certificate is checked (``tls.check_server``): a problem there fails the send with
    ``Failure.TLS`` and a message for a person, and no file leaves. ``check_timeout`` bounds that
    check (default: the connect timeout): it runs before any progress call, so a caller with a
    heartbeat keeps it short."""
    checked = request.checked()
    report = SendReport(total=len(files))
    started = time.monotonic()
    try:
        executable = resolve(program)
    except DcmtkNotFoundError as e:
        report.failure, report.detail = Failure.NOT_INSTALLED, str(e)
        return report
    problem = check_server(
        host=checked.peer.host, port=checked.peer.port, tls=tls, timeout=check_timeout or checked.connect_timeout
    )
    if problem is not None:
        report.failure, report.detail = Failure.TLS, problem.message
        report.duration_s = time.monotonic() - started
        return report
    outcomes: list[FileOutcome] = []
    given = 0

    def flush() -> None:
        nonlocal given
        if on_files is not None and len(outcomes) > given:
            on_files(outcomes[given:])
            given = len(outcomes)

    syntaxes: list[contexts.FileSyntax] = []
    readable: list[int] = []
    for index, path in enumerate(files):
        try:
            syntaxes.append(contexts.file_syntax(path))
            readable.append(index)
        except contexts.UnreadableFile as e:
            outcomes.append(FileOutcome(index, False, None, f"DCMTK was not asked to send it: {e}"))
    report.files = outcomes
    with tempfile.TemporaryDirectory(prefix="storescu-", dir=work_dir) as scratch:
        for start, end in contexts.batches(syntaxes):
            batch = readable[start:end]
            stopped = _run_batch(
                executable=executable,
                checked=checked,
                tls=tls,
                files=[files[i] for i in batch],
                indexes=batch,
                syntaxes=syntaxes[start:end],
                scratch=Path(scratch),
                report=report,
                outcomes=outcomes,
                on_progress=on_progress,
                tick=tick,
                flush=flush,
            )
            if stopped:
                break
    unsendable = sum(1 for outcome in outcomes if not outcome.sent)
    if report.failure is None and report.refused:
        report.failure = Failure.INSTANCES_REFUSED
    if report.failure is None and unsendable:
        report.failure, report.detail = Failure.UNSENDABLE, report.detail or "storescu could not send some files"
    if report.failure is None and report.acknowledged < report.total:
        report.failure = Failure.OTHER
        report.detail = report.detail or "storescu ended before every instance was acknowledged"
    report.duration_s = time.monotonic() - started
    flush()
    return report


def _run_batch(
    *,
    executable: str,
    checked: Association,
    tls: TlsOptions,
    files: list[Path],
    indexes: list[int],
    syntaxes: list[contexts.FileSyntax],
    scratch: Path,
    report: SendReport,
    outcomes: list[FileOutcome],
    on_progress: ProgressCallback | None,
    tick: float,
    flush: Callable[[], None],
) -> bool:
    """One storescu run (one association); True when the send must not go on (a failure, a cancel)."""
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    profile_file = folder / "contexts.cfg"
    contexts.write_profile(profile_file, syntaxes)
    staged = sum(len(str(path)) + 1 for path in files) > _MAX_FILE_ARGUMENT_BYTES
    arguments = stage(files, folder) if staged else files
    tracker = StorescuTracker([str(a) for a in arguments], indexes, report)
    for index, syntax in zip(indexes, syntaxes, strict=True):
        tracker.name(index, syntax.sop_instance_uid)
    tracker.outcomes = outcomes
    args = storescu_command(program=executable, checked=checked, tls=tls, profile_file=profile_file, files=arguments)
    try:
        run = _Run(_die_with_parent(args), cwd=folder if staged else None)
    except OSError as e:
        report.failure, report.detail = Failure.OTHER, f"storescu could not be started ({e.strerror})"
        return True
    said: list[str] = []  # the lines before the first file: how the association went
    stall = checked.patience + STALL_MARGIN
    stopped = False
    try:
        stopped = _follow(run, tracker, said, on_progress, tick, stall, flush)
    finally:
        for line in run.kill():
            tracker.feed(line)
        stopped = tracker.finish() or stopped
    if report.failure is None and not tracker.decided.intersection(indexes):
        _classify_start(said, report, tls, checked)
    return stopped or report.failure is not None


def _follow(
    run: _Run,
    tracker: StorescuTracker,
    said: list[str],
    on_progress: ProgressCallback | None,
    tick: float,
    stall: float,
    flush: Callable[[], None],
) -> bool:
    last_tick = last_output = time.monotonic()
    while True:
        lines = run.lines(tick)
        if lines is None:
            run.process.wait()
            return False
        for line in lines:
            if tracker.current is None and len(said) < 200:
                said.append(line)
            if tracker.feed(line):
                return True
        now = time.monotonic()
        if lines:
            last_output = now
        elif now - last_output > stall:
            tracker.report.failure = Failure.TIMEOUT
            tracker.report.detail = f"storescu said nothing for {stall:.0f} s"
            return True
        if on_progress is not None and now - last_tick >= tick:
            last_tick = now
            flush()
            if not on_progress(tracker.report.acknowledged, tracker.report.refused):
                tracker.report.failure, tracker.report.detail = Failure.CANCELLED, "cancelled"
                return True


def _classify_start(said: list[str], report: SendReport, tls: TlsOptions, checked: Association) -> None:
    """Nothing was sent: why, from what storescu printed before its first file."""
    output = "\n".join(said)
    fatal = [line[3:] for line in said if line.startswith(("F: ", "E: "))]
    if not fatal:
        return
    tls_failure = dcmtk_tls_failure(output, tls=tls, where=checked.peer.where)
    if tls_failure is not None:
        report.failure, report.detail = Failure.TLS, tls_failure.message
        return
    rejection = parse_rejection(output)
    if rejection is not None:
        report.rejection = rejection
        report.failure = Failure.PEER_BUSY if rejection.transient else Failure.ASSOCIATION_REJECTED
        report.detail = rejection_message(rejection, checked)
        return
    failure = network_failure(fatal[0])
    report.failure = _FAILURE_OF.get(failure, Failure.OTHER) if failure is not None else Failure.OTHER
    report.detail = fatal[0]
