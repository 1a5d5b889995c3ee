"""The WAN benchmark (issue 17): sending over a link with latency, one association against several.

DICOM C-STORE waits for each response before the next request, so over a delayed link one
association moves one instance per round trip. This measures, in one run and side by side: raw
``storescu`` over one association (the baseline), and our whole system (API → worker → dcmsend)
with ``max_associations`` 1, 4 and 8, sending 1,000 small instances and 200 CT instances to DCMTK
``storescp --fork`` and to Orthanc, directly (0 ms) and through ``delay_proxy.DelayProxy`` at 10
and 25 ms one way (20 and 50 ms round trip, no bandwidth cap). Then, on loopback, a 1 GB CT series
with ``max_associations`` 4 against 1: splitting must not make large instances on a LAN slower.

    make bench-wan                          # this part alone (about 15 minutes on 2 cores)
    .venv/bin/python bench/run.py --only wan --runs 3 --wan-runs 3   # medians of 3 everywhere
    BENCH_QUICK=1 make bench-wan            # smaller data, to try the harness

Writes its tables into docs/benchmarks.md between the "wan-bench" markers, and prints them.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run
from delay_proxy import DelayProxy
from pydicom.uid import generate_uid

from testsupport.peers import orthanc, storescp

DELAYS_MS = (0, 10, 25)
ASSOCIATIONS = (1, 4, 8)
START, END = "<!-- wan-bench:start -->", "<!-- wan-bench:end -->"


@dataclass
class Receiver:
    name: str
    ae_title: str
    port: int
    clear: Callable[[], None]
    count: Callable[[], int]


@dataclass
class Cell:
    """One data set × delay × receiver: seconds per sender, run by run."""

    data: str
    delay_ms: int
    receiver: str
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def median(self, sender: str) -> float:
        return statistics.median(self.seconds[sender])


@contextlib.contextmanager
def _storescp_receiver(directory: Path) -> Iterator[Receiver]:
    with storescp(directory, "FORKRX", extra_args=["--fork"]) as scp:
        yield Receiver(
            "storescp --fork",
            scp.ae_title,
            scp.port,
            clear=lambda: run.clear(scp.directory),
            count=lambda: sum(1 for p in scp.directory.iterdir() if p.is_file()),
        )


@contextlib.contextmanager
def _orthanc_receiver(directory: Path) -> Iterator[Receiver]:
    # Orthanc serves DicomThreadsCount associations at once (4 by default): 8, so that 8 can be
    # measured (the others would wait for a free thread).
    with orthanc(directory, "ORTHANCRX", config={"DicomThreadsCount": 8}) as pacs:
        base = f"http://{run.LOOP}:{pacs.http_port}"

        def clear() -> None:
            with urllib.request.urlopen(base + "/patients", timeout=60) as response:
                patients = json.loads(response.read())
            for patient in patients:
                request = urllib.request.Request(f"{base}/patients/{patient}", method="DELETE")
                with urllib.request.urlopen(request, timeout=600) as response:
                    response.read()

        def count() -> int:
            with urllib.request.urlopen(base + "/statistics", timeout=60) as response:
                return int(json.loads(response.read())["CountInstances"])

        yield Receiver("Orthanc", pacs.ae_title, pacs.dicom_port, clear=clear, count=count)


@contextlib.contextmanager
def _link(port: int, delay_ms: int) -> Iterator[int]:
    """The port to connect to for ``delay_ms`` one way: the receiver itself at 0."""
    if not delay_ms:
        yield port
        return
    with DelayProxy(port, delay_ms / 1000) as proxy:
        yield proxy.port


def _ours(app: run.App, destination: int, associations: int, body: dict[str, Any]) -> float:
    app.request("PATCH", f"/api/destinations/{destination}/", {"max_associations": associations})
    return run.api_send(app, body["import_id"], _series_of(body), [destination])


def _series_of(body: dict[str, Any]) -> list[str]:
    return [s["series_instance_uid"] for p in body["patients"] for st in p["studies"] for s in st["series"]]


def _checked(receiver: Receiver, expected: int, action: Callable[[], float]) -> Callable[[], float]:
    def measured() -> float:
        receiver.clear()
        seconds = action()
        got = receiver.count()
        if got != expected:
            raise RuntimeError(f"{receiver.name} holds {got} instances, {expected} were sent")
        return seconds

    return measured


def main(runs: int = 3, wan_runs: int = 1) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="dicom-bench-wan-"))
    rx_root = Path(tempfile.mkdtemp(prefix="dicom-bench-wan-rx-", dir=run.RX_ROOT))
    os.environ["TRANSFER_MAX_CONCURRENT_PER_DESTINATION"] = str(max(ASSOCIATIONS))
    os.environ["JWT_ACCESS_LIFETIME"] = "6h"  # one sign-in for the whole run, longer than 15 min
    cells: list[Cell] = []
    lan: dict[str, list[float]] = {}
    started = time.monotonic()
    try:
        small_count, ct_count, big_count = (200, 50, 200) if run.QUICK else (1000, 200, 2000)
        print("generating data...", flush=True)
        study = generate_uid()
        small = run.make_series(scratch / "small", small_count, 64, 64, study=study, number=1)
        ct = run.make_series(scratch / "ct", ct_count, 512, 512, study=study, number=2)
        big = run.make_series(scratch / "big", big_count, 512, 512, study=study, number=3)
        with contextlib.ExitStack() as stack:
            app = stack.enter_context(run.our_app(scratch / "app"))
            print("importing...", flush=True)
            datasets = []
            for label, files in ((f"{small_count:,} small instances", small), (f"{ct_count} CT instances", ct)):
                _, body = run.multipart_upload(app.base, app.token, files)
                stored = sorted((app.data_dir / "imports" / body["import_id"]).rglob("*.dcm"))
                datasets.append((label, body, stored))
            for make in (_storescp_receiver, _orthanc_receiver):
                receiver = stack.enter_context(make(rx_root / make.__name__))
                for delay in DELAYS_MS:
                    port = stack.enter_context(_link(receiver.port, delay))
                    destination = run.add_destination(app, f"{receiver.name} {delay} ms", receiver.ae_title, port)
                    for label, body, stored in datasets:
                        print(f"{label}, {delay} ms one way, to {receiver.name}...", flush=True)
                        raw = functools.partial(run.raw_dcmtk, "storescu", receiver.ae_title, port, stored)
                        actions: dict[str, Callable[[], float]] = {"storescu": raw}
                        for k in ASSOCIATIONS:
                            actions[f"ours ×{k}"] = lambda k=k, b=body, d=destination: _ours(app, d, k, b)
                        checked = {name: _checked(receiver, len(stored), a) for name, a in actions.items()}
                        count = wan_runs if delay else runs
                        cells.append(Cell(label, delay, receiver.name, run.interleaved(checked, runs=count)))

            # Large instances on loopback: 4 associations against 1, to storescp --fork.
            print(f"loopback: {big_count} CT instances, 4 associations against 1...", flush=True)
            _, big_body = run.multipart_upload(app.base, app.token, big)
            scp = stack.enter_context(storescp(rx_root / "lan", "LANRX", extra_args=["--fork"]))
            destination = run.add_destination(app, "lan", "LANRX", scp.port)
            lan_rx = Receiver(
                "lan", "LANRX", scp.port, lambda: run.clear(scp.directory), lambda: len(list(scp.directory.iterdir()))
            )
            _ours(app, destination, 1, big_body)  # warms the page cache, untimed
            lan = run.interleaved(
                {
                    f"ours ×{k}": _checked(lan_rx, big_count, lambda k=k: _ours(app, destination, k, big_body))
                    for k in (1, 4)
                },
                runs=runs,
            )
            lan["bytes"] = [float(run.size_of(big))]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(rx_root, ignore_errors=True)
    write_doc(cells, lan, runs=runs, wan_runs=wan_runs, minutes=(time.monotonic() - started) / 60)


def write_doc(cells: list[Cell], lan: dict[str, list[float]], *, runs: int, wan_runs: int, minutes: float) -> None:
    senders = ["storescu", *(f"ours ×{k}" for k in ASSOCIATIONS)]
    lines = [
        START,
        "## Over a WAN: parallel associations (`make bench-wan`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {run.machine()}"
        + (" **Quick mode (BENCH_QUICK=1): smaller data.**" if run.QUICK else "")
        + f"; {minutes:.0f} min. Command: `make bench-wan` (`bench/run.py --only wan --runs {runs} "
        f"--wan-runs {wan_runs}`).",
        "",
        "Seconds from `POST /send/` to the transfer's `completed_at` (ours, the whole system: API, "
        "queue, worker, dcmsend) and of raw `storescu` (one association, `TCP_NODELAY=1`), on the same "
        "files to the same receiver in the same run, alternating run by run"
        + f" (the median of {runs} runs at 0 ms, where the noise of a shared machine shows; of {wan_runs} "
        "with a delay, which sets the time there: runs differ by a few per cent)"
        + ". The delay is one way, in each direction, added by a TCP proxy on 127.0.0.1 "
        "(`bench/delay_proxy.py`, no bandwidth cap); 0 ms is a direct connection. In brackets: "
        "the time against raw storescu's (lower is faster). Small instances are 64 × 64 × 16 bit "
        "CT (~10 kB), CT instances 512 × 512 × 16 bit (~525 kB). Orthanc runs with "
        "`DicomThreadsCount` 8 (default 4: more associations wait for a thread).",
        "",
        "| data | one-way delay | receiver | " + " | ".join(senders) + " |",
        "| --- | ---: | --- | " + " | ".join("---:" for _ in senders) + " |",
    ]
    for cell in cells:
        raw = cell.median("storescu")
        figures = [f"{raw:.2f} s"] + [f"{cell.median(s):.2f} s ({cell.median(s) / raw:.2f})" for s in senders[1:]]
        lines.append(f"| {cell.data} | {cell.delay_ms} ms | {cell.receiver} | " + " | ".join(figures) + " |")
    goal = next(
        (c for c in cells if c.delay_ms == 10 and c.receiver.startswith("storescp") and "small" in c.data), None
    )
    if goal is not None:
        ratio = goal.median("ours ×4") / goal.median("storescu")
        lines += [
            "",
            f"Goal: at 10 ms one way, {goal.data} with `max_associations` 4 to storescp --fork in at most "
            f"0.4 × raw storescu's time: **{ratio:.2f} ×, {'met' if ratio <= 0.4 else 'not met'}**.",
        ]
    if lan:
        size = lan["bytes"][0]
        one, four = statistics.median(lan["ours ×1"]), statistics.median(lan["ours ×4"])
        ratio = one / four
        lines += [
            "",
            f"Loopback, {size / 1e9:.2f} GB of CT instances to storescp --fork (median of {len(lan['ours ×1'])}): "
            f"one association {size / one / 1e6:.0f} MB/s ({one:.2f} s), four {size / four / 1e6:.0f} MB/s "
            f"({four:.2f} s): **{ratio:.2f} × the single association's throughput** (goal ≥ 0.95: "
            f"{'met' if ratio >= 0.95 else 'not met'}).",
        ]
    lines += [
        "",
        "Raw timings (seconds):",
        "",
        "```",
        *(
            f"{c.data}, {c.delay_ms} ms, {c.receiver}: "
            + json.dumps({k: [round(v, 3) for v in vs] for k, vs in c.seconds.items()}, ensure_ascii=False)
            for c in cells
        ),
        *(
            [f"loopback: {json.dumps({k: [round(v, 3) for v in vs] for k, vs in lan.items()}, ensure_ascii=False)}"]
            if lan
            else []
        ),
        "```",
        END,
    ]
    text = run.DOC.read_text() if run.DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = text[: text.index(START)] + "\n".join(lines) + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    run.DOC.write_text(text)
    print("\n".join(lines))


def cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure at 0 ms and on loopback (median)")
    parser.add_argument("--wan-runs", type=int, default=1, help="runs per figure with a delay (median)")
    arguments = parser.parse_args(argv)
    main(runs=arguments.runs, wan_runs=arguments.wan_runs)
