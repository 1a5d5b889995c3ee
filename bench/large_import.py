"""One 3 GB upload of 5,000 instances through the default limits (issue 4), with the web
process's peak memory. Not part of `make bench` (it writes 6 GB of scratch data):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/large_import.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pydicom.uid import generate_uid
from run import make_series, multipart_upload, our_app, size_of


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="dicom-large-import-"))
    try:
        files = make_series(scratch / "src", 5000, 548, 548, study=generate_uid(), number=1)
        print(f"{len(files)} files, {size_of(files) / 1e9:.2f} GB", flush=True)
        os.environ["WEB_PROCESSES"] = "1"
        with our_app(scratch / "app") as app:
            (pid,) = app.web_pids()
            started = time.perf_counter()
            elapsed, body = multipart_upload(app.base, app.token, files)
            status = Path(f"/proc/{pid}/status").read_text()
            peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
            print(
                f"201 in {elapsed:.1f} s ({size_of(files) / elapsed / 1e6:.0f} MB/s): "
                f"{body['instance_count']} instances, {len(body['errors'])} errors; web process peak RSS {peak:.0f} MB "
                f"(measured {time.perf_counter() - started:.1f} s)"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
