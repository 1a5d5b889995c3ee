"""STOW-RS: sending files to a DICOMweb service (``POST {url}/studies``), with httpx.

Each request is ``multipart/related; type="application/dicom"``, one part per instance, each
part's ``Content-Type`` naming the file's own transfer syntax (``application/dicom;
transfer-syntax=...``), so compressed instances go as they are, never decoded. Parts are streamed
from disk in 1 MiB chunks with an exact ``Content-Length``: a request of any size holds one chunk
in memory. Instances go in batches of at most ``batch_instances`` and ``batch_bytes`` (at least
one per request), in the order given.

The answer is the per-instance outcome: its DICOM JSON (``application/dicom+json``) lists the
stored instances in ReferencedSOPSequence (with a WarningReason when the server changed
something) and the refused ones in FailedSOPSequence with their FailureReason. They come back as
the same ``SendReport`` and ``FileOutcome``s (by position in ``files``) as dcmsend's, statuses
being DICOM status codes, so the ledger, the retry policy, progress and cancel are shared.

A refusal of the whole request that will not change by itself (400, 401, 403, 404, 413, 415...)
stops the send (``Failure.HTTP_REFUSED``, permanent); 408, 429, 5xx, timeouts and a broken
connection are transient, with the server's ``Retry-After``. A 409 is the refusal of every
instance the answer names (per instance, permanent).

The requests run on a thread of their own while the caller's thread calls ``on_progress`` every
``tick`` (the worker's heartbeat must go on while a server takes its time to answer); a False
answer stops the upload at its next chunk.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pydicom
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomnet.dcmsend import Failure, FileOutcome, InstanceOutcome, ProgressCallback, SendReport, is_success_or_warning
from dicomnet.dicomweb import DICOM_JSON, Problem, WebTarget, http_status_message, request_error, retry_after

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"

# PS3.18 / PS3.4: the reasons a STOW-RS answer gives, in words.
REASONS = {
    0x0110: "Processing failure",
    0x0122: "SOP Class not supported",
    0x0124: "Not authorized",
    0xA700: "Out of resources",
    0xA770: "Out of resources (memory)",
    0xA771: "Out of resources (storage)",
    0xA900: "Data set does not match SOP Class",
    0xC000: "Cannot understand",
    0xC122: "Referenced SOP Class not supported",
    0xC42A: "Instance already exists (study conflict)",
    0xB000: "Warning: coercion of data elements",
    0xB006: "Warning: elements discarded",
    0xB007: "Warning: data set does not match SOP Class",
}


@dataclass(frozen=True)
class Part:
    """One instance as a part: its file, what the answer calls it, and its syntax."""

    index: int
    path: Path
    sop_instance_uid: str
    transfer_syntax: str
    prefix: bytes  # a Part 10 header for a file stored without one (b"" otherwise)
    size: int

    @property
    def length(self) -> int:
        return len(self.prefix) + self.size


def describe(path: Path, index: int) -> Part | FileOutcome:
    """The part of the file at ``index``, or its outcome as unsendable (unreadable, no UIDs)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
        size = path.stat().st_size
        if head[128:132] == b"DICM":
            meta = read_file_meta_info(path)
            return Part(index, path, str(meta.MediaStorageSOPInstanceUID), str(meta.TransferSyntaxUID), b"", size)
        # A data set without the Part 10 header (the import keeps such files as they came): STOW-RS
        # takes Part 10 files, so the part gets a header made from the data set's own UIDs.
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        syntax = ImplicitVRLittleEndian if dataset.original_encoding[0] else ExplicitVRLittleEndian
        meta = pydicom.dataset.FileMetaDataset()
        meta.MediaStorageSOPClassUID = dataset.SOPClassUID
        meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        meta.TransferSyntaxUID = syntax
        header = DicomBytesIO()
        header.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(header, meta, enforce_standard=True)
        return Part(index, path, str(dataset.SOPInstanceUID), syntax, header.getvalue(), size)
    except Exception as e:  # any parser failure makes this one file unsendable
        return FileOutcome(index, False, None, f"its file could not be read ({type(e).__name__}: {str(e)[:200]})")


def batches(parts: Iterator[Part | FileOutcome], *, instances: int, size: int) -> Iterator[list[Part | FileOutcome]]:
    """Consecutive parts, at most ``instances`` and ``size`` bytes a request (at least one part)."""
    batch: list[Part | FileOutcome] = []
    count = total = 0
    for part in parts:
        length = part.length if isinstance(part, Part) else 0
        if count and (count >= instances or total + length > size):
            yield batch
            batch, count, total = [], 0, 0
        batch.append(part)
        if isinstance(part, Part):
            count += 1
            total += length
    if batch:
        yield batch


class _Stopped(Exception):
    """The caller asked to stop: the upload ends at its next chunk."""


def _body(
    parts: Sequence[Part], boundary: str, stop: threading.Event, *, name_syntax: bool
) -> tuple[int, Iterator[bytes]]:
    def content_type(part: Part) -> str:
        return f"application/dicom; transfer-syntax={part.transfer_syntax}" if name_syntax else "application/dicom"

    heads = [
        f"--{boundary}\r\nContent-Type: {content_type(part)}\r\nContent-Length: {part.length}\r\n\r\n".encode()
        for part in parts
    ]
    tail = f"--{boundary}--\r\n".encode()
    length = sum(len(head) + part.length + 2 for head, part in zip(heads, parts, strict=True)) + len(tail)

    def chunks() -> Iterator[bytes]:
        for head, part in zip(heads, parts, strict=True):
            yield head + part.prefix
            with part.path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    if stop.is_set():
                        raise _Stopped
                    yield chunk
            yield b"\r\n"
        yield tail

    return length, chunks()


@dataclass
class _Answer:
    """What one request came back with: outcomes, or the failure that ends the send."""

    outcomes: list[FileOutcome]
    instances: list[InstanceOutcome]
    failure: Failure | None = None
    message: str = ""
    detail: str = ""
    retry_after: float | None = None


def _items(body: Any, tag: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    values = (body.get(tag) or {}).get("Value") or []
    return [item for item in values if isinstance(item, dict)]


def _value(item: dict[str, Any], tag: str) -> Any:
    values = (item.get(tag) or {}).get("Value") or []
    return values[0] if values else None


def _reason(code: int) -> str:
    return f"{REASONS.get(code, 'Refused')} (0x{code:04X})"


def parse_answer(status: int, body: Any, parts: Sequence[Part]) -> _Answer:
    """The outcome of each part named by a STOW-RS answer (``body``: its DICOM JSON, or None).
    Parts the answer does not name stay undecided (sent again by a later attempt)."""
    by_uid = {part.sop_instance_uid: part for part in parts}
    answer = _Answer([], [])
    decided: set[str] = set()

    def decide(uid: str, code: int | None, text: str) -> None:
        part = by_uid.get(uid)
        if part is None or uid in decided:
            return
        decided.add(uid)
        answer.outcomes.append(FileOutcome(part.index, True, code, text))
        answer.instances.append(InstanceOutcome(uid, code, text))

    for item in _items(body, REFERENCED_SOP_SEQUENCE):
        warning = _value(item, WARNING_REASON)
        code = int(warning) if isinstance(warning, int) else 0x0000
        decide(str(_value(item, REFERENCED_SOP_INSTANCE_UID)), code, "Success" if code == 0 else _reason(code))
    for item in _items(body, FAILED_SOP_SEQUENCE):
        reason = _value(item, FAILURE_REASON)
        failure = int(reason) if isinstance(reason, int) else None
        text = _reason(failure) if failure is not None else f"Refused by the server ({status})"
        decide(str(_value(item, REFERENCED_SOP_INSTANCE_UID)), failure, text)
    if status == 409 and not decided:
        for part in parts:  # a conflict naming no instance: every instance of the request was refused
            decide(part.sop_instance_uid, None, "Refused by the server (409)")
    return answer


def _send_batch(
    client: httpx.Client, target: WebTarget, parts: Sequence[Part], stop: threading.Event, *, name_syntax: bool
) -> _Answer:
    boundary = uuid.uuid4().hex
    length, chunks = _body(parts, boundary, stop, name_syntax=name_syntax)
    url = f"{target.url}/studies"
    headers = {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Content-Length": str(length),
        "Accept": DICOM_JSON,
    }
    try:
        response = client.post(url, content=chunks, headers=headers)
    except _Stopped:
        return _Answer([], [], Failure.CANCELLED, detail="cancelled")
    except httpx.HTTPError as e:
        if isinstance(e.__context__, _Stopped) or isinstance(e.__cause__, _Stopped):
            return _Answer([], [], Failure.CANCELLED, detail="cancelled")
        error = request_error(e, target.url)
        return _Answer([], [], _FAILURE_OF[error.problem], message=error.message, detail=str(e)[:300])
    status = response.status_code
    try:
        body = response.json() if response.content.strip() else None
    except ValueError:
        body = None
    detail = f"HTTP {status} from {url}"
    if status in (200, 202, 409) or (status == 400 and (_items(body, FAILED_SOP_SEQUENCE))):
        answer = parse_answer(status, body, parts)
        answer.detail = detail
        return answer
    message = http_status_message(status, url, what="STOW-RS")
    if status == 408:
        failure = Failure.TIMEOUT
    elif status in (429, 503):
        failure = Failure.PEER_BUSY
    elif status >= 500:
        failure = Failure.OTHER
    else:
        failure = Failure.HTTP_REFUSED
    return _Answer([], [], failure, message=message, detail=detail, retry_after=retry_after(response))


_FAILURE_OF = {
    Problem.REFUSED: Failure.CONNECTION_REFUSED,
    Problem.UNREACHABLE: Failure.CONNECTION_REFUSED,
    Problem.HOST_NOT_FOUND: Failure.HOST_NOT_FOUND,
    Problem.TLS: Failure.TLS,
    Problem.TIMEOUT: Failure.TIMEOUT,
    Problem.BROKEN: Failure.ABORTED,
}


def store(
    *,
    files: Sequence[Path],
    target: WebTarget,
    batch_instances: int = 100,
    batch_bytes: int = 64 << 20,
    on_progress: ProgressCallback | None = None,
    tick: float = 0.5,
    on_files: Callable[[list[FileOutcome]], None] | None = None,
    name_transfer_syntax: bool = False,
) -> SendReport:
    """Send ``files`` to ``target`` by STOW-RS and report what happened to each (by position in
    ``files``: ``report.files``, also given to ``on_files`` as each answer arrives).

    Each part is the file's bytes (its Part 10 header names its transfer syntax, which is what
    PS3.18 reads for ``application/dicom``); ``name_transfer_syntax`` also puts it in the part's
    ``Content-Type`` (``application/dicom; transfer-syntax=...``), which Orthanc's DICOMweb plugin
    1.7 (Debian 12) refuses, answering 200 with none of the instances stored."""
    report = SendReport(total=len(files))
    started = time.monotonic()
    answers: queue.Queue[_Answer | None] = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            with target.client() as client:
                described = (describe(path, index) for index, path in enumerate(files))
                for batch in batches(described, instances=batch_instances, size=batch_bytes):
                    unreadable = [item for item in batch if isinstance(item, FileOutcome)]
                    if unreadable:
                        answers.put(_Answer(unreadable, []))
                    parts = [item for item in batch if isinstance(item, Part)]
                    if not parts:
                        continue
                    answer = _send_batch(client, target, parts, stop, name_syntax=name_transfer_syntax)
                    answers.put(answer)
                    if answer.failure is not None or stop.is_set():
                        return
        except Exception as e:  # reported as the send's failure, never lost in a thread
            logger.exception("STOW-RS sender failed")
            answers.put(_Answer([], [], Failure.OTHER, message=f"The DICOMweb send failed ({type(e).__name__})."))
        finally:
            answers.put(None)

    thread = threading.Thread(target=run, name="stow-rs", daemon=True)
    thread.start()
    last_tick = time.monotonic()
    cancelled_at: float | None = None
    while True:
        try:
            answer = answers.get(timeout=tick)
        except queue.Empty:
            answer = False  # type: ignore[assignment]
        if answer is None:
            break
        if answer:
            _take(report, answer)
            if on_files is not None and answer.outcomes:
                on_files(list(answer.outcomes))
        now = time.monotonic()
        if cancelled_at is None and on_progress is not None and now - last_tick >= tick:
            last_tick = now
            if not on_progress(report.acknowledged, report.refused):
                stop.set()
                cancelled_at = now
        if cancelled_at is not None and now - cancelled_at > 2 * tick + 1:
            # Waiting for an answer to a request already sent: its outcome stays unknown (those
            # instances are sent again by a later attempt, which a server stores again without harm).
            break
    if cancelled_at is not None:
        report.failure, report.detail, report.message = Failure.CANCELLED, "cancelled", ""
    elif report.failure is None and report.refused:
        report.failure = Failure.INSTANCES_REFUSED
    elif report.failure is None and report.unsendable:
        report.failure = Failure.UNSENDABLE
        report.detail = report.detail or "some files could not be read"
    elif report.failure is None and report.acknowledged < report.total:
        # An answer that does not say what became of an instance: nothing says it was stored, and
        # sending it again would meet the same answer. Permanent; the server's log says why.
        unnamed = report.total - report.acknowledged - report.unsendable
        report.failure = Failure.HTTP_REFUSED
        report.message = (
            f"The server's STOW-RS answer did not name {unnamed} of the instances we sent, so it did not say "
            "it stored them: check the DICOMweb server's log."
        )
        report.detail = report.detail or report.message
    report.duration_s = time.monotonic() - started
    return report


def _take(report: SendReport, answer: _Answer) -> None:
    report.files.extend(answer.outcomes)
    report.instances.extend(answer.instances)
    for outcome in answer.outcomes:
        if not outcome.sent:
            continue
        if outcome.status is not None and is_success_or_warning(outcome.status):
            report.acknowledged += 1
        else:
            report.refused += 1
    if answer.detail:
        report.detail = answer.detail
    if answer.failure is not None and report.failure is None:
        report.failure, report.message, report.retry_after = answer.failure, answer.message, answer.retry_after
        report.detail = answer.detail or answer.message
