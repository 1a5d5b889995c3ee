"""Which file got which outcome, read from dcmsend's verbose output while it runs.

dcmsend sends the files in the order it is given them. Its verbose output says, in that order:

- while checking its input, ``W: bad DICOM file: <file>: <reason>, ignoring file`` for a file it
  will not send at all;
- while sending, ``E: cannot send SOP instance from file: <file>: <reason>`` (often after an
  ``E:`` line with DCMTK's detail) for a file it could not read, and otherwise one
  ``Sending C-STORE Request`` then one ``Received C-STORE Response (<status>)`` per file.

So every response belongs to the next file not yet decided. The outcomes are exact as soon as
each line arrives, which matters when dcmsend is stopped (a cancel, a worker shut down): its
report file is written only at its normal end. When that report exists it is exact too, and
``apply_report`` takes the DIMSE status codes from it (the output names some statuses only by
their meaning).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_BAD_INPUT = "W: bad DICOM file: "
_CANNOT_SEND = "E: cannot send SOP instance from file: "
_STATUS_CODE = re.compile(r"0x([0-9A-Fa-f]{4})")


@dataclass
class FileOutcome:
    """The outcome of the file at ``index`` of the list dcmsend was given."""

    index: int
    sent: bool  # False: DCMTK could not read the file, and did not send it
    status: int | None  # the DIMSE status of the response (None: not sent, or not told)
    text: str  # DCMTK's words: the status's meaning, or why the file could not be sent

    @property
    def unsendable(self) -> bool:
        return not self.sent


def status_of_response(text: str) -> int | None:
    """The DIMSE status of ``Received C-STORE Response (<text>)``, where the text tells it."""
    if text == "Success":
        return 0x0000
    code = _STATUS_CODE.search(text)
    return int(code.group(1), 16) if code else None


class FileTracker:
    """Follows dcmsend's output line by line and decides the outcome of each file."""

    def __init__(self, arguments: Sequence[str]) -> None:
        self._arguments = list(arguments)
        self._positions = {argument: index for index, argument in enumerate(arguments)}
        self._decided: set[int] = set()
        self._next = 0
        self._count = len(arguments)
        self._detail = ""  # DCMTK's last error line, the detail of a file it cannot send
        self.outcomes: list[FileOutcome] = []  # in the order they were decided

    def _index_of(self, rest: str) -> tuple[int, str] | None:
        """The file named at the start of ``rest`` (``<file>: <reason>``) and the reason."""
        parts = rest.split(": ")
        for cut in range(1, len(parts)):
            index = self._positions.get(": ".join(parts[:cut]))
            if index is not None:
                return index, ": ".join(parts[cut:])
        return None

    def _decide(self, index: int, status: int | None, text: str, *, sent: bool = True) -> None:
        if index in self._decided:
            return
        self._decided.add(index)
        self.outcomes.append(FileOutcome(index, sent, status, text))

    def _skip_decided(self) -> None:
        while self._next < self._count and self._next in self._decided:
            self._next += 1

    def feed(self, line: str) -> None:
        if "C-STORE Response" in line:
            start = line.find("(")
            text = line[start + 1 : line.rfind(")")] if start >= 0 else line
            self._skip_decided()
            if self._next < self._count:
                self._decide(self._next, status_of_response(text), text)
            self._detail = ""
            return
        if line.startswith((_BAD_INPUT, _CANNOT_SEND)):
            prefix = _BAD_INPUT if line.startswith(_BAD_INPUT) else _CANNOT_SEND
            found = self._index_of(line[len(prefix) :])
            if found is not None:
                index, reason = found
                reason = reason.removesuffix(", ignoring file")
                if self._detail and self._detail not in reason:
                    reason = f"{reason} ({self._detail})"
                self._decide(index, None, reason or "DCMTK could not read the file", sent=False)
            self._detail = ""
            return
        if line.startswith("E: ") and not line.startswith("E: cannot add DICOM file"):
            self._detail = line[3:].strip()[:300]
        elif line.startswith("I: Sending C-STORE Request"):
            self._detail = ""

    def apply_report(self, statuses: dict[str, tuple[int | None, str]]) -> None:
        """Exact DIMSE statuses from dcmsend's report file (file argument → status, text)."""
        for outcome in self.outcomes:
            exact = statuses.get(self._arguments[outcome.index])
            if outcome.sent and exact is not None and exact[0] is not None:
                outcome.status, outcome.text = exact


_REPORT_FILE = re.compile(r"^Filename\s*:\s*(?P<file>.*)$", re.M)
_REPORT_STATUS = re.compile(
    r"^DIMSE Status\s*:\s*(?:0x(?P<status>[0-9A-Fa-f]{4})\s*\((?P<text>[^)]*)\)|(?P<other>.*))$", re.M
)


def report_statuses(text: str) -> dict[str, tuple[int | None, str]]:
    """Every file of dcmsend's ``--create-report-file`` with its DIMSE status (None: not sent)."""
    statuses: dict[str, tuple[int | None, str]] = {}
    for block in text.split("\n\n"):
        name, status = _REPORT_FILE.search(block), _REPORT_STATUS.search(block)
        if name is None or status is None:
            continue
        if status.group("status"):
            statuses[name.group("file").strip()] = (int(status.group("status"), 16), status.group("text"))
        else:
            statuses[name.group("file").strip()] = (None, (status.group("other") or "").strip())
    return statuses


class FilesSeen:
    """Hands the files decided since the last call to the caller's ``on_files``: at least every
    ``FLUSH_EVERY`` seconds while dcmsend runs (it goes on sending meanwhile, so little is left
    for the end), before each progress call, and at the end."""

    FLUSH_EVERY = 0.1

    def __init__(self, tracker: FileTracker, on_files: Callable[[list[FileOutcome]], None] | None) -> None:
        self.tracker, self.on_files, self.given, self.flushed_at = tracker, on_files, 0, 0.0

    def feed(self, line: str) -> None:
        self.tracker.feed(line)

    def flush_if_due(self, now: float) -> None:
        if now - self.flushed_at >= self.FLUSH_EVERY:
            self.flushed_at = now
            self.flush()

    def flush(self) -> None:
        new = self.tracker.outcomes[self.given :]
        if new and self.on_files is not None:
            self.given += len(new)
            self.on_files(new)


STAGE = "f"


def stage(files: Sequence[Path], scratch: Path) -> list[Path]:
    """Hard links (symbolic across file systems) to ``files`` in ``scratch/f``, named by their
    position: short names relative to ``scratch``, where dcmsend then runs. (Not a folder for
    ``--scan-directories``: dcmsend would send its files in directory order, not ours.)"""
    (scratch / STAGE).mkdir(mode=0o700)
    names = []
    for number, path in enumerate(files):
        name = Path(STAGE) / f"{number}"
        try:
            os.link(path, scratch / name)
        except OSError:
            (scratch / name).symlink_to(path)
        names.append(name)
    return names
