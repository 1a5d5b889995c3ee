"""`make bench`'s DICOMweb part: a 1 GB series sent by our STOW-RS path (API → worker → Orthanc's
DICOMweb plugin) against Orthanc's own STOW-RS endpoint fed directly by httpx with the same files,
in the same run. Each side gets a fresh Orthanc (HTTP basic authentication on, storage in memory
when /dev/shm exists), so neither stores into an index the other filled.

The direct upload is written here, independently of ``dicomnet.stow``: plain multipart/related
requests of the same batch size over one kept-open connection, each file streamed from disk.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from testsupport.peers import Orthanc, orthanc

USER, PASSWORD = "bench", "bench-stow-password"
BATCH_INSTANCES = 50  # the default of DICOMWEB_BATCH_INSTANCES
BATCH_BYTES = 64 << 20  # and of DICOMWEB_BATCH_BYTES


def _batches(files: list[Path]) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for path in files:
        length = path.stat().st_size
        if batch and (len(batch) >= BATCH_INSTANCES or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch


def direct_stow(pacs: Orthanc, files: list[Path]) -> float:
    """Seconds to STOW-RS ``files`` to Orthanc with httpx, batch after batch."""
    started = time.perf_counter()
    with httpx.Client(auth=(USER, PASSWORD), timeout=600) as client:
        for batch in _batches(files):
            boundary = uuid.uuid4().hex
            heads = [f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() for _ in batch]
            tail = f"--{boundary}--\r\n".encode()
            length = sum(len(h) + p.stat().st_size + 2 for h, p in zip(heads, batch, strict=True)) + len(tail)

            def body(heads: list[bytes] = heads, batch: list[Path] = batch, tail: bytes = tail) -> Iterator[bytes]:
                for head, path in zip(heads, batch, strict=True):
                    yield head
                    with path.open("rb") as handle:
                        while chunk := handle.read(1 << 20):
                            yield chunk
                    yield b"\r\n"
                yield tail

            response = client.post(
                pacs.dicomweb_url + "/studies",
                content=body(),
                headers={
                    "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                    "Content-Length": str(length),
                    "Accept": "application/dicom+json",
                },
            )
            if response.status_code != 200:
                raise RuntimeError(f"Orthanc answered {response.status_code}")
    return time.perf_counter() - started


def compare(
    *,
    root: Path,
    files: list[Path],
    runs: int,
    add_destination: Callable[[Orthanc], int],
    api_send: Callable[[int], float],
) -> dict[str, list[float]]:
    """Alternating runs of ours (``api_send`` to the destination ``add_destination`` made) and the
    direct upload, each into a fresh Orthanc; the count Orthanc holds is checked after each."""
    timings: dict[str, list[float]] = {"ours_s": [], "orthanc_stow_httpx_s": []}
    for run in range(runs):
        for name in timings:
            directory = root / f"dicomweb-{name}-{run}"
            with orthanc(directory, dicomweb=True, users={USER: PASSWORD}) as pacs:
                elapsed = api_send(add_destination(pacs)) if name == "ours_s" else direct_stow(pacs, files)
                held = _count(pacs)
            shutil.rmtree(directory, ignore_errors=True)
            if held != len(files):
                raise RuntimeError(f"{name}: Orthanc holds {held} of {len(files)} instances")
            timings[name].append(elapsed)
            print(f"  DICOMweb {name} run {run + 1}: {elapsed:.3f}", flush=True)
    return timings


def _count(pacs: Orthanc) -> int:
    statistics: Any = pacs.get("/statistics")
    return int(statistics["CountInstances"])
