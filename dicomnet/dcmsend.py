"""C-STORE of a set of files in one association, with DCMTK's ``dcmsend``.

Why dcmsend and not storescu: dcmsend proposes, for every file, a presentation context in the
transfer syntax the file is encoded in (JPEG, JPEG-LS, JPEG 2000, RLE, deflate...), and falls back
to decompressing lossless files if the peer refuses that syntax. storescu proposes uncompressed
syntaxes unless told one compressed syntax for the whole run, and fails every other compressed
file. Both move instances at the same speed (docs/transfers.md, "dcmsend, not storescu"; the raw
figures of both are in docs/benchmarks.md).

The outcome is read from dcmsend's output while it runs (each ``Received C-STORE Response`` is one
instance acknowledged or refused) and, when not every instance was acknowledged, from its detailed
report file, which names every SOP instance with its DIMSE status. The exit code is not trusted: dcmsend exits 0 after
refusals and aborts.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dicomnet.association import Association, AssociationRequest, NetworkFailure, Rejection, network_failure
from dicomnet.dcmsend_files import STAGE, FileOutcome, FilesSeen, FileTracker, report_statuses, stage
from dicomnet.programs import DcmtkNotFoundError, child_environment, resolve

logger = logging.getLogger(__name__)


class Failure(enum.Enum):
    """Why a send did not deliver every instance."""

    CONNECTION_REFUSED = "connection_refused"
    HOST_NOT_FOUND = "host_not_found"
    ASSOCIATION_REJECTED = "association_rejected"
    PEER_BUSY = "peer_busy"
    TIMEOUT = "timeout"
    ABORTED = "aborted"
    NO_PRESENTATION_CONTEXT = "no_presentation_context"
    INSTANCES_REFUSED = "instances_refused"
    UNSENDABLE = "unsendable"  # DCMTK could not read some files; the others were sent
    NOT_INSTALLED = "not_installed"
    TLS = "tls"  # the server's certificate does not verify, or it refused our TLS handshake
    CANCELLED = "cancelled"
    # DICOMweb (dicomnet.stow): the server refused the whole request for a reason that will not
    # change by itself (401, 403, 404, 413...). (An untrusted HTTPS certificate is ``TLS``.)
    HTTP_REFUSED = "http_refused"
    OTHER = "other"

    @property
    def transient(self) -> bool:
        """Worth trying again later: the peer or the network may recover."""
        return self in _TRANSIENT


_TRANSIENT = {Failure.CONNECTION_REFUSED, Failure.PEER_BUSY, Failure.TIMEOUT, Failure.ABORTED, Failure.OTHER}


@dataclass
class InstanceOutcome:
    sop_instance_uid: str
    status: int | None  # the DIMSE status, None when not sent
    text: str

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and is_success_or_warning(self.status)


@dataclass
class SendReport:
    total: int
    acknowledged: int = 0
    refused: int = 0
    failure: Failure | None = None
    detail: str = ""  # DCMTK's own words for the failure, for the details of the audit entry
    instances: list[InstanceOutcome] = field(default_factory=list)
    duration_s: float = 0.0
    exit_code: int | None = None
    # Why the peer rejected the association, when the caller found out (dcmsend itself does not
    # print it: a C-ECHO does, see ``echoscu.EchoResult.rejection``).
    rejection: Rejection | None = None
    files: list[FileOutcome] = field(default_factory=list)  # by position in ``files``, as decided
    # A transport that words its failure itself (DICOMweb: the URL, the HTTP status) says it here;
    # and a server's Retry-After (seconds), which the next attempt waits for.
    message: str = ""
    retry_after: float | None = None

    @property
    def unsendable(self) -> int:
        return sum(1 for outcome in self.files if outcome.unsendable)

    @property
    def success(self) -> bool:
        return self.failure is None and self.acknowledged == self.total

    @property
    def not_sent(self) -> int:
        return max(0, self.total - self.acknowledged - self.refused)


def is_success_or_warning(status: int) -> bool:
    """PS3.7 C.4.2.1.4: 0x0000 success; 0x0001, 0x0107, 0x0116 and 0xB000–0xBFFF warnings."""
    return status in (0x0000, 0x0001, 0x0107, 0x0116) or 0xB000 <= status <= 0xBFFF


def dcmsend_command(
    *, program: str, checked: Association, report_file: Path, files: Sequence[Path], staged: bool = False
) -> list[str]:
    """The argument list of one dcmsend run.

    AE titles, host and port were checked (``association``: never starting with ``-``, ``+`` or
    ``@``, which DCMTK would read as an option or a response file) and sit where no option goes.
    Files are absolute paths of our own making, or (``staged``) names inside the staging folder of
    links that dcmsend runs in. ``--read-file``: a data set without file meta information (which
    the import accepts, as storescu does) is read too; dcmsend's default reads Part 10 files only.
    """
    for path in files:
        if not (path.is_absolute() or (staged and str(path).startswith(f"{STAGE}/"))):
            raise ValueError("dcmsend is given absolute paths only")
    return [
        program,
        "--verbose",
        "--no-halt",
        "--single-association",
        "--read-file",
        *checked.options(),
        "--create-report-file",
        str(report_file),
        checked.peer.host,
        str(checked.peer.port),
        *(str(path) for path in files),
    ]


_RESPONSE = re.compile(r"Received C-STORE Response \((?P<text>[^)]*)\)")
_FATAL = re.compile(r"^F: (?P<text>.*)$")
_REPORT_ENTRY = re.compile(
    r"SOP Instance\s*:\s*(?P<uid>\S+).*?DIMSE Status\s*:\s*"
    r"(?:0x(?P<status>[0-9A-Fa-f]{4})\s*\((?P<text>[^)]*)\)|(?P<other><[^>]*>))",
    re.S,
)


_FAILURE_OF = {
    NetworkFailure.REFUSED: Failure.CONNECTION_REFUSED,
    NetworkFailure.HOST_NOT_FOUND: Failure.HOST_NOT_FOUND,
    NetworkFailure.REJECTED: Failure.ASSOCIATION_REJECTED,
    NetworkFailure.TIMEOUT: Failure.TIMEOUT,
    NetworkFailure.NO_PRESENTATION_CONTEXT: Failure.NO_PRESENTATION_CONTEXT,
    NetworkFailure.ABORTED: Failure.ABORTED,
}


def _classify_fatal(text: str) -> Failure:
    failure = network_failure(text)
    return _FAILURE_OF.get(failure, Failure.OTHER) if failure is not None else Failure.OTHER


_UNKNOWN_STATUS = re.compile(r"0x([0-9A-Fa-f]{4})")


def _response_acknowledged(text: str) -> bool:
    if text == "Success" or text.startswith("Warning"):
        return True
    # DCMTK names some warnings "Unknown Status: 0x0001" (0x0107, 0x0116 too).
    code = _UNKNOWN_STATUS.search(text)
    return code is not None and is_success_or_warning(int(code.group(1), 16))


def parse_report(text: str) -> list[InstanceOutcome]:
    """Every instance of dcmsend's ``--create-report-file`` with its DIMSE status."""
    outcomes = []
    for block in text.split("\n\n"):
        match = _REPORT_ENTRY.search(block)
        if match is None:
            continue
        if match.group("status"):
            outcomes.append(InstanceOutcome(match.group("uid"), int(match.group("status"), 16), match.group("text")))
        else:
            outcomes.append(InstanceOutcome(match.group("uid"), None, match.group("other") or "<not sent>"))
    return outcomes


STALL_MARGIN = 10.0  # seconds of silence beyond DCMTK's own timeouts before dcmsend is called hung
_MAX_FILE_ARGUMENT_BYTES = 1 << 20  # Linux allows 2 MiB of arguments and environment in all


def _die_with_parent(args: list[str]) -> list[str]:
    """Run through util-linux's setpriv so dcmsend is killed if its worker dies (SIGKILL, OOM):
    an orphan would go on sending while another worker sends the same series again."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *args] if setpriv else args


class _Run:
    """One dcmsend process; its output is read in large chunks by the caller's thread.

    Reading line by line on a second thread cost 10-20 % of the throughput of a 1 GB series on two
    cores (a wake-up per line, competing with dcmsend and the receiver for the CPU). Even on the
    caller's thread, waking at every write of dcmsend meant a wake-up per line: once output
    arrives, ``lines`` lets ``GATHER`` seconds more of it collect before reading. For 1,000 small
    instances that took our process from 61 to 22 ms of CPU and from 2,000 context switches to
    about 100; the pipe holds far more than 5 ms of output, so dcmsend never waits for us.
    """

    GATHER = 0.005

    def __init__(self, args: list[str], cwd: Path | None = None) -> None:
        self.process = subprocess.Popen(
            args,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_environment(),
            start_new_session=True,  # its own process group, so cancel can kill it all
            bufsize=0,
        )
        assert self.process.stdout is not None
        self.fd = self.process.stdout.fileno()
        self.pending = b""

    def lines(self, timeout: float) -> list[str] | None:
        """The complete lines that arrived within ``timeout`` seconds; None at the end of output."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        if timeout > 0 and self.process.poll() is None:
            time.sleep(self.GATHER)  # the lines of the next few milliseconds too, in one read
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            rest, self.pending = self.pending, b""
            return [rest.decode("utf-8", "replace")] if rest else None
        *complete, self.pending = (self.pending + chunk).split(b"\n")
        return b"\n".join(complete).decode("utf-8", "replace").split("\n") if complete else []

    def kill(self) -> list[str]:
        """Stop dcmsend and anything it started: SIGTERM to the group, then SIGKILL. Returns the
        lines it wrote that were not read yet (responses that arrived before it stopped)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        rest: list[str] = []
        while (lines := self.lines(0)) is not None and lines:
            rest += lines
        assert self.process.stdout is not None
        self.process.stdout.close()
        return rest


ProgressCallback = Callable[[int, int], bool]
"""Called with (acknowledged, refused) at least every ``tick`` seconds; return False to cancel."""


def send_files(
    *,
    files: Sequence[Path],
    request: AssociationRequest,
    program: str,
    on_progress: ProgressCallback | None = None,
    tick: float = 0.5,
    on_files: Callable[[list[FileOutcome]], None] | None = None,
    work_dir: Path | None = None,
) -> SendReport:
    """Send ``files`` to the peer of ``request`` in one association and report what happened to each
    (by its position in ``files``: ``report.files``, also given to ``on_files`` as they are decided).

    ``program`` is dcmsend's name (looked up on PATH) or path; the timeouts are rounded up to
    whole seconds (``programs.whole_seconds``). dcmsend's working folder (its report, and links to
    the files of a long series) is made inside ``work_dir`` (default: the system's temporary
    folder) and removed when it ends. Raises ``AddressError`` for an invalid AE title,
    host or port and ``ValueError`` for an invalid timeout, before anything is sent.
    """
    checked = request.checked()
    report = SendReport(total=len(files))
    started = time.monotonic()
    try:
        executable = resolve(program)
    except DcmtkNotFoundError as e:
        report.failure, report.detail = Failure.NOT_INSTALLED, str(e)
        return report
    with tempfile.TemporaryDirectory(prefix="dcmsend-", dir=work_dir) as scratch:
        report_file = Path(scratch) / "report.txt"
        staged = sum(len(str(path)) + 1 for path in files) > _MAX_FILE_ARGUMENT_BYTES
        if staged:
            # Too many files for one command line (E2BIG): short names of links instead.
            files = stage(files, Path(scratch))
        tracker = FileTracker([str(path) for path in files])
        report.files = tracker.outcomes
        args = dcmsend_command(program=executable, checked=checked, report_file=report_file, files=files, staged=staged)
        try:
            run = _Run(_die_with_parent(args), cwd=Path(scratch) if staged else None)
        except OSError as e:
            report.failure, report.detail = Failure.OTHER, f"dcmsend could not be started ({e.strerror})"
            return report
        # dcmsend writes a line per instance; longer silence than DCMTK's own timeouts is a hang.
        stall = checked.patience + STALL_MARGIN
        files_seen = FilesSeen(tracker, on_files)
        try:
            _follow(run, report, on_progress, tick, stall, files_seen)
        finally:
            for line in run.kill():
                # Stopped early (a cancel, a stop): what it wrote meanwhile still counts.
                files_seen.feed(line)
                if "C-STORE Response" in line:
                    _consume(line, report)
        report.exit_code = run.process.returncode
        clean = report.failure is None and report.refused == 0 and report.acknowledged == report.total
        if (
            not clean
            and report_file.exists()
            and report.failure not in (Failure.CANCELLED, Failure.TIMEOUT, Failure.ABORTED)
        ):
            # Something went wrong: the report says exactly which instance got which status.
            text = report_file.read_text(errors="replace")
            report.instances = parse_report(text)
            tracker.apply_report(report_statuses(text))
    if report.instances:
        # The report is exact: recount from it.
        report.acknowledged = sum(1 for outcome in report.instances if outcome.acknowledged)
        report.refused = sum(
            1 for outcome in report.instances if outcome.status is not None and not outcome.acknowledged
        )
    if report.failure is None and report.refused:
        report.failure = Failure.INSTANCES_REFUSED
    if report.failure is None and report.unsendable:
        report.failure = Failure.UNSENDABLE
        report.detail = report.detail or "dcmsend could not read some files"
    if report.failure is None and report.acknowledged < report.total:
        report.failure = Failure.OTHER
        report.detail = report.detail or "dcmsend ended before every instance was acknowledged"
    report.duration_s = time.monotonic() - started
    files_seen.flush()
    return report


def _follow(
    run: _Run, report: SendReport, on_progress: ProgressCallback | None, tick: float, stall: float, files: FilesSeen
) -> None:
    """Read dcmsend's output until it ends, a fatal condition, a cancel, or ``stall`` s of silence."""
    last_tick = last_output = time.monotonic()
    while True:
        lines = run.lines(tick)
        if lines is None:
            run.process.wait()
            return
        for line in lines:
            files.feed(line)
            if _consume(line, report):
                return
        now = time.monotonic()
        files.flush_if_due(now)
        if lines:
            last_output = now
        elif now - last_output > stall:
            report.failure = Failure.TIMEOUT
            report.detail = f"dcmsend said nothing for {stall:.0f} s"
            return
        if on_progress is not None and now - last_tick >= tick:
            last_tick = now
            files.flush()
            if not on_progress(report.acknowledged, report.refused):
                report.failure, report.detail = Failure.CANCELLED, "cancelled"
                return


def _consume(line: str, report: SendReport) -> bool:
    """Count one line of dcmsend's output into ``report``; True when the send must stop now."""
    if "C-STORE Response" in line:
        response = _RESPONSE.search(line)
        if response:
            if _response_acknowledged(response.group("text")):
                report.acknowledged += 1
            else:
                report.refused += 1
        return False
    if line.startswith(("E: Failed receiving DIMSE response", "E: Failed sending C-STORE request")):
        # The peer went silent or the association broke: the other instances would each wait for
        # the DIMSE timeout. Stop now.
        report.failure = Failure.TIMEOUT if "timeout" in line.lower() else Failure.ABORTED
        report.detail = line[3:]
        return True
    if "Peer aborted Association" in line:
        report.failure, report.detail = Failure.ABORTED, line[3:]
        return True
    fatal = _FATAL.match(line)
    if fatal:
        report.failure, report.detail = _classify_fatal(fatal.group("text")), fatal.group("text")
        return True
    return False
