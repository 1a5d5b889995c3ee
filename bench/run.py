"""`make bench`: our overhead against raw DCMTK and against Orthanc, measured side by side.

Starts everything it needs on 127.0.0.1 (our app on PostgreSQL with gunicorn and two workers, as
`make run` does; DCMTK storescp receivers; Orthanc from the Debian package), generates the data,
runs every measurement at least three times, stops what it started, and writes the table into
docs/benchmarks.md between the "transfer-bench" markers. Nothing here runs in `make test` or CI.

    make bench                      # everything (about 25 minutes on 2 cores), then the WAN part
    BENCH_QUICK=1 make bench        # smaller data, for trying the harness
    make bench-wan                  # the WAN part alone (bench/wan.py): bench/run.py --only wan
    BENCH_ONLY=dicomweb make bench  # only the DICOMweb comparison (bench/dicomweb.py)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydicom.uid import generate_uid

from bench import dicomweb as dicomweb_bench
from testsupport.dicom_data import write_series
from testsupport.peers import Orthanc, free_port, orthanc, storescp

QUICK = os.environ.get("BENCH_QUICK") == "1"
RUNS = 3
SEND_RUNS = 5  # sends are short and noisy on two cores: median of five
LOOP = "127.0.0.1"
PY = str(ROOT / ".venv" / "bin" / "python")
DOC = ROOT / "docs" / "benchmarks.md"
# Receivers write to memory (tmpfs) when there is one, so the disk's noise is in no figure.
RX_ROOT = Path(tempfile.mkdtemp(prefix="dicom-bench-rx-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
START, END = "<!-- transfer-bench:start -->", "<!-- transfer-bench:end -->"
WEB_START, WEB_END = "<!-- dicomweb-bench:start -->", "<!-- dicomweb-bench:end -->"
ONLY = os.environ.get("BENCH_ONLY", "")


# --- data ------------------------------------------------------------------------------------


def make_series(directory: Path, count: int, rows: int, columns: int, *, study: str, number: int) -> list[Path]:
    """``count`` CT instances of rows × columns × 16 bit, one series (testsupport's data factory)."""
    return write_series(
        directory,
        count,
        pixel_data=os.urandom(rows * columns * 2),
        rows=rows,
        study_instance_uid=study,
        series_number=number,
        series_description=f"bench {rows}x{columns}",
        patient_name="BENCH^PATIENT",
        patient_id="BENCH-1",
        study_date="20260101",
    )


def size_of(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


# --- our app -----------------------------------------------------------------------------------


@dataclass
class App:
    base: str
    token: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read() or b"null")

    def web_pids(self) -> list[int]:
        """The gunicorn worker processes of this app (children of its gunicorn master)."""
        bind = self.base.removeprefix("http://")
        gunicorns: dict[int, int] = {}  # pid -> parent, for every gunicorn bound to this app's port
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                # gunicorn itself (argv[0], or the script python runs), not the supervisor naming it.
                program = argv[0] if not argv[0].endswith(b"python") and b"python3" not in argv[0] else argv[1]
                if not program.endswith(b"gunicorn") or bind.encode() not in argv:
                    continue
                stat = (entry / "stat").read_text()
                gunicorns[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        return sorted(pid for pid, parent in gunicorns.items() if parent in gunicorns)


def database_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    return base.rsplit("/", 1)[0] + "/" + name


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


@contextlib.contextmanager
def our_app(
    data_dir: Path, *, root: Path = ROOT, database: str | None = None, environment: dict[str, str] | None = None
) -> Iterator[App]:
    """Our app (``scripts/run.sh`` of the checkout at ``root``) on a database of its own."""
    # BENCH_DATABASE: a database of its own when several checkouts bench on one server.
    name = database or os.environ.get("BENCH_DATABASE", "dicom_bench")
    recreate_database(name)
    port = free_port()
    password = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(name),
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "HOST": LOOP,
        "ADMIN_USERNAME": "bench",
        "ADMIN_PASSWORD": password,
        "DEBUG": "0",
        "LOGGING_LEVEL": "WARNING",
        **(environment or {}),
    }
    env.pop("SECRET_KEY", None)
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "app.log").open("wb")
    process = subprocess.Popen(
        [str(root / "scripts" / "run.sh")],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://{LOOP}:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(base + "/api/health/", timeout=2) as response:
                    if response.status == 200:
                        break
            time.sleep(0.5)
        else:
            raise RuntimeError("our app did not become healthy; see " + str(data_dir / "app.log"))
        login = urllib.request.Request(
            base + "/api/auth/login/",
            method="POST",
            data=json.dumps({"username": "bench", "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as response:
            token = json.loads(response.read())["access"]
        yield App(base, token, process, data_dir)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def multipart_upload(
    base: str, token: str, paths: list[Path], *, path: str = "/api/dicom/import/"
) -> tuple[float, Any]:
    """One multipart request with every file, streamed from disk with an exact Content-Length."""
    boundary = uuid.uuid4().hex
    heads = [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{p.name}"\r\n'
            "Content-Type: application/dicom\r\n\r\n"
        ).encode()
        for p in paths
    ]
    tail = f"--{boundary}--\r\n".encode()
    length = sum(len(h) + p.stat().st_size + 2 for h, p in zip(heads, paths, strict=True)) + len(tail)
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=3600)
    started = time.perf_counter()
    connection.putrequest("POST", path)
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    for head, path in zip(heads, paths, strict=True):
        connection.send(head)
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                connection.send(chunk)
        connection.send(b"\r\n")
    connection.send(tail)
    response = connection.getresponse()
    body = json.loads(response.read())
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status != 201:
        raise RuntimeError(f"import answered {response.status}: {str(body)[:300]}")
    return elapsed, body


def wait_done(app: App, ids: list[int], timeout: float = 900) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        transfers = app.request("GET", "/api/dicom/status/?ids=" + ",".join(map(str, ids)))["transfers"]
        if all(t["status"] in ("success", "failed", "cancelled") for t in transfers):
            bad = [t for t in transfers if t["status"] != "success"]
            if bad:
                raise RuntimeError(f"transfer failed: {bad[0]['error_message']}")
            return list(transfers)
        # Light polling: the end time is the worker's completed_at, not when we noticed, and a
        # busy poll would take CPU from the transfer on a 2-core machine.
        time.sleep(0.2)
    raise RuntimeError("transfers did not finish in time")


def api_send(app: App, import_id: str, series: list[str], destinations: list[int]) -> float:
    """Seconds from POST /send/ to the last transfer's completed_at (set by the worker; same clock)."""
    started = time.time()
    ids = [
        t["id"]
        for t in app.request(
            "POST",
            "/api/dicom/send/",
            # The same series goes to the same destination run after run: a resend by choice.
            {"import_id": import_id, "series_instance_uids": series, "destination_ids": destinations, "resend": True},
        )["transfers"]
    ]
    transfers = wait_done(app, ids)
    finished = max(datetime.fromisoformat(t["completed_at"]).timestamp() for t in transfers)
    return finished - started


def add_destination(app: App, name: str, ae: str, port: int) -> int:
    return int(
        app.request("POST", "/api/destinations/", {"name": name, "ae_title": ae, "host": LOOP, "port": port})["id"]
    )


# --- baselines -----------------------------------------------------------------------------------


def cores_busy_during(action: Callable[[], float], receivers: list[Any]) -> float:
    """How many cores the sender (a child of ours) and the receivers use while ``action`` runs."""
    tick = os.sysconf("SC_CLK_TCK")

    def receiver_cpu() -> float:
        total = 0.0
        for receiver in receivers:
            fields = Path(f"/proc/{receiver.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = receiver_cpu()
    wall = action()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sender = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return (sender + receiver_cpu() - before) / wall


def raw_dcmtk(program: str, ae: str, port: int, files: list[Path]) -> float:
    env = {**os.environ, "TCP_NODELAY": "1"}
    started = time.perf_counter()
    subprocess.run(
        [program, "-aet", "BENCH", "-aec", ae, LOOP, str(port), *map(str, files)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def clear(directory: Path) -> None:
    for path in directory.iterdir():
        path.unlink()


@dataclass
class Row:
    what: str
    ours: float
    baseline: float
    baseline_name: str
    unit: str
    goal: str
    higher_is_better: bool = True
    note: str = ""
    runs: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.higher_is_better else self.baseline / self.ours


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure(
    label: str, action: Callable[[], float], runs: int = RUNS, before: Callable[[], None] | None = None
) -> list[float]:
    values = []
    for run in range(runs):
        if before:
            before()
        values.append(action())
        print(f"  {label} run {run + 1}: {values[-1]:.3f}", flush=True)
    return values


def interleaved(
    actions: dict[str, Callable[[], float]], runs: int, before: Callable[[], None] | None = None
) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {name: [] for name in actions}
    for run in range(runs):
        for name, action in actions.items():
            if before:
                before()
            values[name].append(action())
            print(f"  {name} run {run + 1}: {values[name][-1]:.3f}", flush=True)
    return values


# --- the measurements ----------------------------------------------------------------------------


def dicomweb_row(app: App, body: dict[str, Any], stored: list[Path], scratch: Path) -> Row:
    """The 1 GB series by our DICOMweb path against Orthanc's STOW-RS fed by httpx directly."""
    print("send 1 GB by DICOMweb STOW-RS...", flush=True)
    series = [s["series_instance_uid"] for p in body["patients"] for st in p["studies"] for s in st["series"]]

    def add(pacs: Orthanc) -> int:
        destination = {
            "name": f"dicomweb-{pacs.http_port}",
            "kind": "dicomweb",
            "url": pacs.dicomweb_url,
            "auth": {"type": "basic", "username": dicomweb_bench.USER, "password": dicomweb_bench.PASSWORD},
        }
        return int(app.request("POST", "/api/destinations/", destination)["id"])

    timings = dicomweb_bench.compare(
        root=RX_ROOT,
        files=stored,
        runs=RUNS,
        add_destination=add,
        api_send=lambda destination: api_send(app, body["import_id"], series, [destination]),
    )
    total = size_of(stored)
    return Row(
        f"Send {total / 1e9:.2f} GB CT series by DICOMweb STOW-RS: API → success",
        total / median(timings["ours_s"]) / 1e6,
        total / median(timings["orthanc_stow_httpx_s"]) / 1e6,
        "httpx straight to Orthanc's /dicom-web/studies, same batches",
        "MB/s",
        "≥ 0.9 × direct",
        runs=timings,
    )


def dicomweb_only() -> None:
    """``BENCH_ONLY=dicomweb``: the DICOMweb comparison alone, into its own part of the page."""
    scratch = Path(tempfile.mkdtemp(prefix="dicom-bench-"))
    try:
        count = 200 if QUICK else 2000
        print("generating data...", flush=True)
        big = make_series(scratch / "big", count, 512, 512, study=generate_uid(), number=1)
        with our_app(scratch / "app") as app:
            print("importing...", flush=True)
            _, body = multipart_upload(app.base, app.token, big)
            stored = sorted((app.data_dir / "imports" / body["import_id"]).rglob("*.dcm"))
            row = dicomweb_row(app, body, stored, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(RX_ROOT, ignore_errors=True)
    write_doc([row], start=WEB_START, end=WEB_END, title="## DICOMweb STOW-RS (`make bench`)")


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="dicom-bench-"))
    rows: list[Row] = []
    try:
        big_count, small_count, import_count = (200, 200, 100) if QUICK else (2000, 1000, 500)
        print("generating data...", flush=True)
        study = generate_uid()
        big = make_series(scratch / "big", big_count, 512, 512, study=study, number=1)
        small = make_series(scratch / "small", small_count, 64, 64, study=study, number=2)
        quads = [make_series(scratch / f"q{i}", big_count // 8, 512, 512, study=study, number=10 + i) for i in range(4)]
        small_quads = [
            make_series(scratch / f"sq{i}", small_count // 4, 64, 64, study=study, number=20 + i) for i in range(4)
        ]
        ct500 = big[:import_count]
        tiny = make_series(scratch / "tiny", 1, 64, 64, study=study, number=99)
        print(
            f"  big series {size_of(big) / 1e9:.2f} GB, small {size_of(small) / small_count / 1e3:.1f} kB each",
            flush=True,
        )

        with contextlib.ExitStack() as stack:
            scp = stack.enter_context(storescp(RX_ROOT / "rx1", "RX1"))
            scp2 = stack.enter_context(storescp(RX_ROOT / "rx2", "RX2"))
            app = stack.enter_context(our_app(scratch / "app"))
            dest1 = add_destination(app, "rx1", "RX1", scp.port)
            dest2 = add_destination(app, "rx2", "RX2", scp2.port)

            # Import everything once (the 1 GB upload also measures the web process's memory).
            print("importing...", flush=True)
            pids = app.web_pids()
            _, big_import = multipart_upload(app.base, app.token, big)
            _, small_import = multipart_upload(app.base, app.token, small)
            _, quad_import = multipart_upload(app.base, app.token, [p for q in quads for p in q])
            _, small_quad_import = multipart_upload(app.base, app.token, [p for q in small_quads for p in q])
            _, tiny_import = multipart_upload(app.base, app.token, tiny)
            stored_big = sorted((app.data_dir / "imports" / big_import["import_id"]).rglob("*.dcm"))
            stored_small = sorted((app.data_dir / "imports" / small_import["import_id"]).rglob("*.dcm"))

            def series_of(body: dict[str, Any]) -> list[str]:
                return [s["series_instance_uid"] for p in body["patients"] for st in p["studies"] for s in st["series"]]

            # 1. Send throughput, API end to end against raw storescu (TCP_NODELAY=1), same files.
            for label, body, stored, goal in (
                ("1 GB CT series", big_import, stored_big, 0.9),
                ("1,000 small instances", small_import, stored_small, 0.8),
            ):
                print(f"send {label}...", flush=True)
                total = size_of(stored)
                # One untimed run warms the page cache, then the three alternate run by run, so
                # neither side profits from the other's cache or suffers a noisy moment alone.
                raw_dcmtk("storescu", "RX1", scp.port, stored)
                timings = interleaved(
                    {
                        "ours": lambda b=body: api_send(app, b["import_id"], series_of(b), [dest1]),
                        "storescu": lambda s=stored: raw_dcmtk("storescu", "RX1", scp.port, s),
                        "dcmsend": lambda s=stored: raw_dcmtk("dcmsend", "RX1", scp.port, s),
                    },
                    runs=SEND_RUNS,
                    before=lambda: clear(scp.directory),
                )
                ours, raw, dcmsend_raw = timings["ours"], timings["storescu"], timings["dcmsend"]
                rows.append(
                    Row(
                        f"Send {label}: API → success",
                        total / median(ours) / 1e6,
                        total / median(raw) / 1e6,
                        "raw storescu, TCP_NODELAY=1",
                        "MB/s",
                        f"≥ {goal} × raw",
                        note=f"raw dcmsend: {total / median(dcmsend_raw) / 1e6:.0f} MB/s",
                        runs={"ours_s": ours, "storescu_s": raw, "dcmsend_s": dcmsend_raw},
                    )
                )
            clear(scp.directory)

            # 2. Transcoding (issue 15): the same 1,000 instances to a destination whose policy is
            # JPEG-LS lossless (each one transcoded into the attempt's staging folder, checked
            # pixel-equal, sent in chunks while the next chunk is made), against the plain send
            # "as stored" of the same run.
            print("transcode + send...", flush=True)
            jls = add_destination(app, "rx1-jpeg-ls", "RX1", scp.port)
            app.request("PATCH", f"/api/destinations/{jls}/", {"transfer_syntax_policy": "1.2.840.10008.1.2.4.80"})
            total = size_of(stored_small)
            timings = interleaved(
                {
                    "transcoded": lambda: api_send(app, small_import["import_id"], series_of(small_import), [jls]),
                    "plain": lambda: api_send(app, small_import["import_id"], series_of(small_import), [dest1]),
                },
                runs=RUNS,
                before=lambda: clear(scp.directory),
            )
            rows.append(
                Row(
                    "Send 1,000 small instances transcoded to JPEG-LS lossless: API → success",
                    small_count / median(timings["transcoded"]),
                    small_count / median(timings["plain"]),
                    "the same send as stored, same run",
                    "instances/s",
                    "reported",
                    note=f"{total / median(timings['transcoded']) / 1e6:.1f} MB/s of stored data",
                    runs={"transcoded_s": timings["transcoded"], "plain_s": timings["plain"]},
                )
            )
            clear(scp.directory)

            # 2b. The same 1 GB by DICOMweb STOW-RS, against Orthanc's own STOW-RS fed directly.
            web_rows = [dicomweb_row(app, big_import, stored_big, scratch)]

            # 3. Queue latency: POST /send/ to status "sending" (the claim time written by the worker).
            print("queue latency...", flush=True)
            latencies = []
            for _ in range(20):
                started = time.perf_counter()
                transfer = app.request(
                    "POST",
                    "/api/dicom/send/",
                    {
                        "import_id": tiny_import["import_id"],
                        "series_instance_uids": series_of(tiny_import),
                        "destination_ids": [dest1],
                        "resend": True,
                    },
                )["transfers"][0]
                while True:
                    state = app.request("GET", f"/api/dicom/status/?ids={transfer['id']}")["transfers"][0]
                    if state["status"] != "pending":
                        break
                    time.sleep(0.005)
                latencies.append((time.perf_counter() - started) * 1000)
                wait_done(app, [transfer["id"]])
            rows.append(
                Row(
                    "Queue latency: POST /send/ → sending (median of 20)",
                    median(latencies),
                    250,
                    "goal",
                    "ms",
                    "≤ 250 ms",
                    higher_is_better=False,
                    runs={"ms": latencies},
                )
            )

            # 4. Parallel: 4 series to 2 destinations at once against one series alone, with CT
            # instances (bounded by the CPU: sender and receivers share the two cores) and with
            # small ones (bounded by round trips, where parallel associations pay).
            print("parallel...", flush=True)
            busy = cores_busy_during(lambda: raw_dcmtk("dcmsend", "RX1", scp.port, quads[0]), [scp])
            for label, body, one_size, note in (
                (
                    "CT instances",
                    quad_import,
                    size_of(quads[0]),
                    f"one raw send alone keeps {busy:.2f} of {os.cpu_count()} cores busy (sender + receiver), "
                    f"so {os.cpu_count() / busy:.2f}× is the most two cores can give",
                ),
                ("small instances", small_quad_import, size_of(small_quads[0]), ""),
            ):
                series = series_of(body)
                single = measure(
                    f"one series of {label}",
                    lambda b=body, s=series: api_send(app, b["import_id"], s[:1], [dest1]),
                    before=lambda: (clear(scp.directory), clear(scp2.directory)),
                )
                together = measure(
                    f"4 series x 2 destinations of {label}",
                    lambda b=body, s=series: api_send(app, b["import_id"], s, [dest1, dest2]),
                    before=lambda: (clear(scp.directory), clear(scp2.directory)),
                )
                rows.append(
                    Row(
                        f"Parallel: 4 series × 2 destinations of {label}, aggregate",
                        8 * one_size / median(together) / 1e6,
                        one_size / median(single) / 1e6,
                        "one series alone",
                        "MB/s",
                        "≥ 1.6× on 2 cores",
                        note=note,
                        runs={"single_s": single, "together_s": together},
                    )
                )
            clear(scp.directory)
            clear(scp2.directory)

            # 5. Import throughput against Orthanc's POST /instances over one kept-open connection.
            print("import against Orthanc...", flush=True)
            for label, files in ((f"{import_count} CT instances", ct500), (f"{small_count} small instances", small)):
                ours = measure("ours", lambda f=files: multipart_upload(app.base, app.token, f)[0])
                theirs = []
                for run in range(RUNS):
                    with orthanc(scratch / f"orthanc-import-{label[:4]}-{run}") as pacs:
                        theirs.append(orthanc_upload(pacs.http_port, files))
                        print(f"  orthanc run {run + 1}: {theirs[-1]:.3f}", flush=True)
                rows.append(
                    Row(
                        f"Import {label} ({size_of(files) / 1e6:.0f} MB)",
                        len(files) / median(ours),
                        len(files) / median(theirs),
                        "Orthanc POST /instances, keep-alive",
                        "files/s",
                        "≥ 1.5 × Orthanc",
                        runs={"ours_s": ours, "orthanc_s": theirs},
                    )
                )

            # 6. Memory: peak RSS of the web process importing 1 GB against 100 MB (fresh processes).
            memory = measure_memory(scratch, big)
            rows.append(
                Row(
                    "Peak RSS of the web process: import 1 GB",
                    memory["1GB"],
                    memory["100MB"],
                    "import 100 MB",
                    "MB",
                    "< 200 MB and flat",
                    higher_is_better=False,
                    note=f"1 GB: {memory['1GB']:.0f} MB, 100 MB: {memory['100MB']:.0f} MB",
                )
            )
            del pids

        # 2. Orthanc sending the same study, with and without TCP_NODELAY, against our API.
        print("orthanc send...", flush=True)
        orthanc_rows(scratch, big, rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(RX_ROOT, ignore_errors=True)
    write_doc(rows)
    write_doc(web_rows, start=WEB_START, end=WEB_END, title="## DICOMweb STOW-RS (`make bench`)")


def orthanc_upload(http_port: int, files: list[Path]) -> float:
    connection = http.client.HTTPConnection(LOOP, http_port, timeout=600)
    started = time.perf_counter()
    for path in files:
        connection.request("POST", "/instances", body=path.read_bytes(), headers={"Content-Type": "application/dicom"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"Orthanc answered {response.status}")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def measure_memory(scratch: Path, big: list[Path]) -> dict[str, float]:
    """A fresh app per size, one web process, its peak RSS (VmHWM) after the upload."""
    result = {}
    hundred = []
    total = 0
    for path in big:
        if total >= 100e6:
            break
        hundred.append(path)
        total += path.stat().st_size
    for label, files in (("100MB", hundred), ("1GB", big)):
        os.environ["WEB_PROCESSES"] = "1"
        try:
            with our_app(scratch / f"mem-{label}") as app:
                (pid,) = app.web_pids()
                multipart_upload(app.base, app.token, files)
                status = Path(f"/proc/{pid}/status").read_text()
                peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
                result[label] = peak_kb / 1024
                print(f"  peak RSS importing {label}: {result[label]:.0f} MB", flush=True)
        finally:
            os.environ.pop("WEB_PROCESSES", None)
    return result


def orthanc_rows(scratch: Path, big: list[Path], rows: list[Row]) -> None:
    """Orthanc sends the 1 GB series to storescp (its /modalities/{id}/store, synchronous)."""
    send_row = next(r for r in rows if r.what.startswith("Send 1 GB"))
    total = size_of(big)
    for nodelay in (False, True):
        timings = []
        with (
            storescp(RX_ROOT / f"orx-{nodelay}", "ORX") as scp,
            orthanc(
                scratch / f"orthanc-send-{nodelay}", modalities={"rx": ["ORX", LOOP, scp.port]}, tcp_nodelay=nodelay
            ) as pacs,
        ):
            orthanc_upload(pacs.http_port, big)
            for run in range(RUNS):
                clear(scp.directory)
                started = time.perf_counter()
                body = json.dumps({"Resources": [orthanc_study(pacs.http_port)], "Synchronous": True}).encode()
                request = urllib.request.Request(
                    f"http://{LOOP}:{pacs.http_port}/modalities/rx/store", data=body, method="POST"
                )
                with urllib.request.urlopen(request, timeout=1800) as response:
                    response.read()
                timings.append(time.perf_counter() - started)
                print(f"  orthanc send (TCP_NODELAY={int(nodelay)}) run {run + 1}: {timings[-1]:.3f}", flush=True)
        rows.append(
            Row(
                f"Send 1 GB CT series: ours vs Orthanc (TCP_NODELAY={'1' if nodelay else 'unset'})",
                send_row.ours,
                total / median(timings) / 1e6,
                f"Orthanc /modalities/…/store{' with TCP_NODELAY=1' if nodelay else ''}",
                "MB/s",
                "beat Orthanc",
                runs={"orthanc_s": timings},
            )
        )


def orthanc_study(http_port: int) -> str:
    with urllib.request.urlopen(f"http://{LOOP}:{http_port}/studies", timeout=30) as response:
        return str(json.loads(response.read())[0])


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    dcmtk = subprocess.run(["storescu", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    orthanc_version = subprocess.run(
        [shutil.which("Orthanc") or "/usr/sbin/Orthanc", "--version"], capture_output=True, text=True
    ).stdout.split("\n")[0]
    mem = (
        int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
        / 1024
        / 1024
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.platform()}, Python "
        f"{platform.python_version()}, {dcmtk.strip('$ ')}, {orthanc_version}, PostgreSQL, loopback only"
    )


def write_doc(
    rows: list[Row], *, start: str = START, end: str = END, title: str = "## Transfers and imports (`make bench`)"
) -> None:
    lines = [
        start,
        title,
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}."
        + (" **Quick mode (BENCH_QUICK=1): smaller data.**" if QUICK else ""),
        (
            f"Each figure is the median of {RUNS} runs (sends: of {SEND_RUNS}, alternating with their baselines; "
            "latency: of 20), with its baseline measured in the same run."
            if start == START
            else f"The median of {RUNS} runs alternating with the baseline's, each into a fresh Orthanc 1.10.1 with "
            "its DICOMweb plugin (HTTP basic authentication on), in the same run; batches of 50 instances / 64 MiB."
        ),
        "",
        "| measurement | ours | baseline | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        goal_met = _goal_met(row)
        lines.append(
            f"| {row.what} | {row.ours:.1f} {row.unit} | {row.baseline:.1f} {row.unit} ({row.baseline_name}) "
            f"| {row.ratio:.2f} | {row.goal} | {'—' if row.goal == 'reported' else 'yes' if goal_met else '**no**'} |"
        )
    notes = [f"- {row.what}: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["", *notes]
    lines += [
        "",
        "Raw timings (seconds unless named):",
        "",
        "```",
        *(f"{row.what}: {json.dumps({k: [round(v, 3) for v in vs] for k, vs in row.runs.items()})}" for row in rows),
        "```",
        end,
    ]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + "\n".join(lines) + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print("\n".join(lines))


def _goal_met(row: Row) -> bool:
    if row.what.startswith("Queue latency"):
        return row.ours <= 250
    if row.what.startswith("Peak RSS"):
        return row.ours < 200 and row.ours <= row.baseline * 1.25
    if "vs Orthanc" in row.what:
        return row.ratio > 1
    if "DICOMweb" in row.what:
        return row.ratio >= 0.9
    target = {"Send 1 GB": 0.9, "Send 1,000": 0.8, "Parallel": 1.6, "Import": 1.5}
    for prefix, value in target.items():
        if row.what.startswith(prefix):
            return row.ratio >= value
    return False


if __name__ == "__main__":
    # Killed (SIGTERM): stop the apps and receivers it started on the way out (``finally``), or
    # their workers go on polling the bench's database, and a later run's.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    socket.setdefaulttimeout(600)
    if ONLY == "dicomweb":
        dicomweb_only()
        raise SystemExit(0)
    arguments = sys.argv[1:]
    only = arguments[arguments.index("--only") + 1] if "--only" in arguments else None
    if only not in (None, "wan"):
        raise SystemExit(f"--only takes 'wan', not {only!r}")
    if only is None:
        main()
    else:
        shutil.rmtree(RX_ROOT, ignore_errors=True)  # the WAN part makes its own (in wan's `run`)
    import wan

    try:
        wan.cli([a for a in arguments if a not in ("--only", "wan")])
    finally:
        shutil.rmtree(wan.run.RX_ROOT, ignore_errors=True)
