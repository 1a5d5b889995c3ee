"""Why STOW-RS is written with httpx and not with dicomweb-client: both store the same files into
one Orthanc (DICOMweb plugin, basic auth), each in a fresh process, and we compare the peak
memory (VmHWM) and time. Not part of `make bench`: dicomweb-client is not one of our
dependencies, so it runs from a venv of its own:

    python3 -m venv /tmp/dwc && /tmp/dwc/bin/pip install dicomweb-client==0.61.2 httpx==0.28.1
    /tmp/dwc/bin/python bench/dicomweb_client_memory.py       # results in docs/transfers.md

dicomweb-client's ``store_instances`` takes pydicom Datasets: every file is read whole, encoded
again with ``dcmwrite``, and the request body is built as one ``bytes`` before it is sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.dicom_data import write_series
from testsupport.peers import orthanc

CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
way, url, files = sys.argv[2], sys.argv[3], [Path(p) for p in sys.argv[4:]]
started = time.perf_counter()
if way == "dicomweb-client":
    import pydicom
    from dicomweb_client.api import DICOMwebClient
    from requests import Session
    session = Session(); session.auth = ("bench", "bench")
    client = DICOMwebClient(url=url, session=session)
    client.store_instances([pydicom.dcmread(p) for p in files])
else:
    from dicomnet import stow
    from dicomnet.dicomweb import AuthType, WebAuth, WebTarget
    report = stow.store(files=files, target=WebTarget(url, WebAuth(AuthType.BASIC, "bench", "bench")),
                        batch_instances=len(files), batch_bytes=1 << 40)
    assert report.success, report.message
elapsed = time.perf_counter() - started
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(json.dumps({"seconds": elapsed, "peak_mb": int(peak) / 1024}))
"""


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="dwc-"))
    files = write_series(scratch / "series", 200, pixel_data=bytes(512 * 512 * 2), rows=512)
    size = sum(p.stat().st_size for p in files) / 1e6
    results = {}
    for way in ("dicomweb-client", "ours (httpx)"):
        with orthanc(scratch / way.split()[0], dicomweb=True, users={"bench": "bench"}) as pacs:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(ROOT), way, pacs.dicomweb_url, *map(str, files)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[way] = json.loads(out)
            assert int(pacs.get("/statistics")["CountInstances"]) == len(files)  # type: ignore[index]
    print(f"{len(files)} instances, {size:.0f} MB, one request each:")
    for way, result in results.items():
        print(f"  {way}: {result['seconds']:.2f} s, peak RSS {result['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
