"""One 3 GB upload of 5,000 instances through the default limits (issue 4), with the web
process's peak memory. Not part of `make bench` (it writes 6 GB of scratch data):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/large_import.py

``--batch-files 200`` sends the same files as the web page does instead: one open import,
batches of 200 files (``POST /imports/{id}/files/``), then ``POST /imports/{id}/complete/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from typing import Any

from pydicom.uid import generate_uid
from run import App, make_series, multipart_upload, our_app, size_of


def batched_upload(app: App, files: list[Path], batch_files: int) -> tuple[float, Any]:
    """The files in batches into one import, as the web page sends a folder."""
    started = time.perf_counter()
    import_id = app.request("POST", "/api/dicom/imports/")["import_id"]
    for at in range(0, len(files), batch_files):
        multipart_upload(
            app.base, app.token, files[at : at + batch_files], path=f"/api/dicom/imports/{import_id}/files/"
        )
    body = app.request("POST", f"/api/dicom/imports/{import_id}/complete/")
    return time.perf_counter() - started, body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-files", type=int, default=0, help="send in batches of this many files")
    batch_files = parser.parse_args().batch_files
    scratch = Path(tempfile.mkdtemp(prefix="dicom-large-import-"))
    try:
        files = make_series(scratch / "src", 5000, 548, 548, study=generate_uid(), number=1)
        print(f"{len(files)} files, {size_of(files) / 1e9:.2f} GB", flush=True)
        os.environ["WEB_PROCESSES"] = "1"
        with our_app(scratch / "app") as app:
            (pid,) = app.web_pids()
            started = time.perf_counter()
            if batch_files:
                elapsed, body = batched_upload(app, files, batch_files)
            else:
                elapsed, body = multipart_upload(app.base, app.token, files)
            status = Path(f"/proc/{pid}/status").read_text()
            mode = f"batches of {batch_files}: " if batch_files else ""
            peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
            print(
                f"{mode}201 in {elapsed:.1f} s ({size_of(files) / elapsed / 1e6:.0f} MB/s): "
                f"{body['instance_count']} instances, {len(body['errors'])} errors; web process peak RSS {peak:.0f} MB "
                f"(measured {time.perf_counter() - started:.1f} s)"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
