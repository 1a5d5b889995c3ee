"""One set of files sent over several associations at once: a high-latency link (WAN, VPN).

DICOM C-STORE waits for each response before the next request (DCMTK has no asynchronous
operations window), so over a link with a round trip of 20 ms one association moves at most 50
instances a second whatever the bandwidth. N associations, each sending its own share of the
files, move up to N times as many. Each association is one ordinary ``send`` (dcmsend, with its
own output reading and per-file outcomes), run by a thread of its own; this module splits the
files (``shards``), runs the sends, and merges their reports into one ``SendReport`` whose
per-file outcomes are positions in the caller's ``files``, as one association's would be. Counts
are summed for ``on_progress``, and its False (a cancel, a stop) stops every association at once.

Threads only wait on their dcmsend (and for the rare C-ECHO of a rejection): the caller's thread
does every callback, so it alone touches the database. dcmsend runs under ``setpriv
--pdeathsig``, which fires when the *thread* that started it ends: each thread waits for its
dcmsend to end (or kills it) before it returns, so that is never early.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from dicomnet.dcmsend import Failure, ProgressCallback, SendReport
from dicomnet.dcmsend_files import FileOutcome

OneSend = Callable[[Sequence[Path], ProgressCallback, Callable[[list[FileOutcome]], None]], SendReport]
"""Send these files over one association: (files, on_progress, on_files) → its report."""

MIN_INSTANCES_PER_ASSOCIATION = 10
"""A series is split only into shares of at least this many instances: an association costs a
process start and a round trip or two to open, which a few instances do not repay."""


def association_count(*, wanted: int, to_send: int) -> int:
    """How many associations ``to_send`` instances are worth, at most ``wanted`` (at least 1)."""
    return max(1, min(wanted, to_send // MIN_INSTANCES_PER_ASSOCIATION))


def shards(sizes: Sequence[int], count: int) -> list[list[int]]:
    """Positions of ``sizes`` split into at most ``count`` shares of about equal bytes, each in the
    original order: every file goes, in order, to the share with the fewest bytes so far.

    With files of one size this interleaves them (0, 4, 8... / 1, 5, 9...), so every share is at
    the same point of the series at the same time and all end together; a series of mixed sizes
    (a few large instances among small ones) is balanced by bytes, not by count, so no one
    association is left carrying the large files alone while the others have finished.
    """
    count = max(1, min(count, len(sizes)))
    loads = [0] * count
    shares: list[list[int]] = [[] for _ in range(count)]
    for position, size in enumerate(sizes):
        least = min(range(count), key=lambda share: (loads[share], len(shares[share])))
        shares[least].append(position)
        loads[least] += max(size, 1)
    return [share for share in shares if share]


# Which failure of one association speaks for the whole send, most telling first. A failure that
# left files untried comes before one after which every file was tried (refused, unsendable):
# the policy must see that the send did not go through, so the rest is attempted again.
_PRECEDENCE = [
    Failure.CANCELLED,
    Failure.NOT_INSTALLED,
    Failure.TLS,
    Failure.HOST_NOT_FOUND,
    Failure.ASSOCIATION_REJECTED,
    Failure.NO_PRESENTATION_CONTEXT,
    Failure.PEER_BUSY,
    Failure.CONNECTION_REFUSED,
    Failure.TIMEOUT,
    Failure.ABORTED,
    Failure.OTHER,
    Failure.INSTANCES_REFUSED,
    Failure.UNSENDABLE,
]


@dataclass
class _Share:
    """One association's part: its positions in the caller's files, and what it has said."""

    positions: list[int]
    acknowledged: int = 0
    refused: int = 0
    report: SendReport | None = None
    error: BaseException | None = None
    # Decided, not yet handed on: dcmsend's own objects, which its report may still make exact
    # (``FileTracker.apply_report``), mapped to the caller's positions only when handed on.
    decided: list[FileOutcome] = field(default_factory=list)


def send_parallel(
    *,
    files: Sequence[Path],
    count: int,
    send: OneSend,
    on_progress: ProgressCallback | None = None,
    tick: float = 0.5,
    on_files: Callable[[list[FileOutcome]], None] | None = None,
) -> SendReport:
    """Send ``files`` over up to ``count`` associations at once (``send`` runs one of them).

    ``on_progress`` (the summed counts) and ``on_files`` (outcomes by position in ``files``) are
    called from the caller's thread only, at least every ``tick`` seconds. An exception raised by
    one ``send`` stops the others and is raised here once all have ended.
    """
    started = time.monotonic()
    sizes = [_size(path) for path in files]
    shares = [_Share(positions) for positions in shards(sizes, count)]
    stop = threading.Event()
    lock = threading.Lock()

    def run(share: _Share) -> None:
        def progress(acknowledged: int, refused: int) -> bool:
            with lock:
                share.acknowledged, share.refused = acknowledged, refused
            return not stop.is_set()

        def decided(outcomes: list[FileOutcome]) -> None:
            with lock:
                share.decided += outcomes

        try:
            # Checked often: a cancel stops every association within a fraction of a second.
            share.report = send([files[position] for position in share.positions], progress, decided)
        except BaseException as e:  # handed to the caller's thread, raised there
            share.error = e
            stop.set()

    threads = [threading.Thread(target=run, args=(share,), daemon=True) for share in shares]
    for thread in threads:
        thread.start()
    cancelled = False

    def hand_on() -> tuple[int, int]:
        with lock:
            outcomes = [replace(o, index=share.positions[o.index]) for share in shares for o in share.decided]
            for share in shares:
                share.decided = []
            counts = (sum(s.acknowledged for s in shares), sum(s.refused for s in shares))
        if outcomes and on_files is not None:
            on_files(outcomes)
        return counts

    while any(thread.is_alive() for thread in threads):
        deadline = time.monotonic() + tick
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        acknowledged, refused = hand_on()
        if on_progress is not None and not cancelled and not on_progress(acknowledged, refused):
            cancelled = True
            stop.set()
    for share in shares:
        if share.error is not None:
            raise share.error
    hand_on()
    report = merge([share.report for share in shares if share.report is not None], total=len(files))
    report.files = [outcome for share in shares if share.report for outcome in _mapped(share)]
    if cancelled:
        report.failure, report.detail = Failure.CANCELLED, "cancelled"
    report.duration_s = time.monotonic() - started
    return report


def _mapped(share: _Share) -> list[FileOutcome]:
    assert share.report is not None
    return [replace(outcome, index=share.positions[outcome.index]) for outcome in share.report.files]


def merge(reports: Sequence[SendReport], *, total: int) -> SendReport:
    """One report of several associations' (their ``files`` are left to the caller to map)."""
    merged = SendReport(total=total)
    for report in reports:
        merged.acknowledged += report.acknowledged
        merged.refused += report.refused
        merged.instances += report.instances
        if merged.exit_code in (None, 0):
            merged.exit_code = report.exit_code
    failed = [report for report in reports if report.failure is not None]
    rejected = [r for r in reports if r.failure in (Failure.ASSOCIATION_REJECTED, Failure.PEER_BUSY)]
    if rejected and len(rejected) < len(reports):
        # The peer accepted some of our associations, so it knows our AE title: it rejected the
        # others for their number (a limit of simultaneous associations). Worth another attempt.
        merged.failure, merged.rejection = Failure.PEER_BUSY, rejected[0].rejection
        merged.detail = (
            f"the destination accepted {len(reports) - len(rejected)} of {len(reports)} simultaneous "
            f"associations and rejected the others ({rejected[0].detail}); lower its max_associations"
        )
    elif failed:
        worst = min(failed, key=_rank)
        merged.failure, merged.rejection = worst.failure, worst.rejection
        merged.detail = worst.detail
        if len(reports) > 1:
            merged.detail = f"{len(failed)} of {len(reports)} associations: {worst.detail}"
    return merged


def _rank(report: SendReport) -> int:
    """Where ``report``'s failure stands in ``_PRECEDENCE`` (one not listed: after them all)."""
    return _PRECEDENCE.index(report.failure) if report.failure in _PRECEDENCE else len(_PRECEDENCE)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # dcmsend will say what is wrong with it
