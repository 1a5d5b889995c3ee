"""Is this checkout slower than an earlier commit? The send of 1,000 small instances (API →
success, as ``make bench``) by this checkout and by ``REF``, both running at once against one
storescp, run by run in turn with raw ``storescu`` on the same files, so every figure shares its
moment of the machine.

    .venv/bin/python bench/compare.py REF [--runs 15] [--count 1000]
    make bench-compare REF=d1aaab7

``REF`` is checked out into a temporary git worktree (removed at the end) and run with this
checkout's virtualenv: it must work with today's requirements (every commit since 2026-11-28
does). Each app gets its own PostgreSQL database (``dicom_compare_this``, ``dicom_compare_ref``,
dropped and made again). Each app first sends a few times untimed, so neither is measured with a
cold worker. Prints the medians, and a Markdown row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydicom.uid import generate_uid

from bench import run as bench


def _worktree(ref: str, directory: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--", str(directory), ref], check=True)
    # The earlier checkout runs on this one's virtualenv (scripts/run.sh looks for .venv there).
    (directory / ".venv").symlink_to(ROOT / ".venv")
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ref", help="the commit (or branch, tag) to compare with")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--count", type=int, default=1000)
    arguments = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--end-of-options", f"{arguments.ref}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    scratch = Path(tempfile.mkdtemp(prefix="dicom-compare-"))
    tree = scratch / "ref"
    try:
        _worktree(commit, tree)
        files = bench.make_series(scratch / "small", arguments.count, 64, 64, study=generate_uid(), number=2)
        with contextlib.ExitStack() as stack:
            scp = stack.enter_context(bench.storescp(bench.RX_ROOT / "compare", "RX1"))
            sends = {}
            stored: list[Path] = []
            for name, root in (("this", ROOT), ("ref", tree)):
                app = stack.enter_context(
                    bench.our_app(scratch / f"data-{name}", root=root, database=f"dicom_compare_{name}")
                )
                destination = bench.add_destination(app, "rx1", "RX1", scp.port)
                _, body = bench.multipart_upload(app.base, app.token, files)
                series = [
                    s["series_instance_uid"] for p in body["patients"] for st in p["studies"] for s in st["series"]
                ]
                stored = sorted((app.data_dir / "imports" / body["import_id"]).rglob("*.dcm"))
                for _ in range(4):  # every worker of the app warm
                    bench.api_send(app, body["import_id"], series, [destination])

                def send(app: bench.App = app, import_id: str = body["import_id"], series: list[str] = series,
                         destination: int = destination) -> float:  # fmt: skip
                    return bench.api_send(app, import_id, series, [destination])

                sends[name] = send
            timings = bench.interleaved(
                {**sends, "storescu": lambda: bench.raw_dcmtk("storescu", "RX1", scp.port, stored)},
                runs=arguments.runs,
                before=lambda: bench.clear(scp.directory),
            )
        raw = statistics.median(timings["storescu"])
        print()
        for name, values in timings.items():
            median = statistics.median(values)
            print(f"{name:9s} median {median:.3f} s  raw storescu / this {raw / median:.2f}")
        this, ref = statistics.median(timings["this"]), statistics.median(timings["ref"])
        print(
            f"\n| Send {arguments.count:,} small instances: API → success | {this:.3f} s (this checkout) | "
            f"{ref:.3f} s ({commit[:7]}, same run) | {ref / this:.2f} | raw storescu {raw:.3f} s |"
        )
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(bench.RX_ROOT, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what it started on the way out
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    main()
