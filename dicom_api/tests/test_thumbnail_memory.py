"""The thumbnail of a 1 GB multi-frame instance costs one frame of memory, not the file.

The request runs in a process of its own (Django set up as the web process is, the real view
through DRF's test client, against this test's database), which reports its peak RSS. The 1 GB
instances are generated in the test's temporary folder, natively encoded and RLE-encapsulated
without an offset table (pydicom then walks the fragments to find the middle frame).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.pixels import pixel_array
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, SecondaryCaptureImageStorage, generate_uid

from dicom_api.services.imports import Upload, import_create
from testsupport import workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SIDE = 512
FRAMES = 2048  # 2048 × 512 × 512 × 2 bytes = 1 GiB natively
PEAK_LIMIT_MB = 300

# The peak is the kernel's high-water mark of this process' own memory (VmHWM). Not getrusage's
# ru_maxrss: Linux carries the parent's peak across fork and exec into it, so a child of a large
# pytest process would report pytest's memory.
MEASURE = """
import json, sys
import django
django.setup()
from django.contrib.auth.models import User
from rest_framework.test import APIClient
import dicom_api.thumbnails, dicom_api.views.imports  # everything the web process has loaded

def kb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

before = kb("VmHWM")
client = APIClient()
client.force_authenticate(User.objects.get(pk=int(sys.argv[1])))
response = client.get(sys.argv[2], HTTP_HOST="localhost")
peak = kb("VmHWM")
print(json.dumps({"status": response.status_code, "bytes": len(response.content),
                  "type": response["Content-Type"], "before_kb": before, "peak_kb": peak,
                  "error": response.content[:300].decode("latin-1") if response.status_code != 200 else ""}))
"""


def frame(index: int) -> np.ndarray:
    """Noise (so RLE can't shrink it), with the frame's number written in its first row."""
    pixels = np.random.default_rng(index).integers(0, 4096, size=(SIDE, SIDE), dtype=np.uint16)
    pixels[0, :2] = (index, 0xABC)
    return pixels


def header(transfer_syntax: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "BIG^MULTIFRAME", "PID-BIG", "OT"
    ds.Rows = ds.Columns = SIDE
    ds.NumberOfFrames = FRAMES
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    return ds


def write_native(path: Path) -> None:
    pydicom.dcmwrite(path, header(ExplicitVRLittleEndian), enforce_file_format=True)
    with path.open("ab") as out:
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, FRAMES * SIDE * SIDE * 2))
        for index in range(FRAMES):
            out.write(frame(index).tobytes())


def write_rle(path: Path) -> None:
    """Every frame is its own fragment; an empty Basic Offset Table. Written by hand: pydicom's
    ``encapsulate`` would hold every frame in memory."""
    ds = header(RLELossless)
    ds.NumberOfFrames = 1
    ds.PixelData = frame(0).tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.compress(RLELossless, encoding_plugin="pydicom")
    (fragment,) = generate_frames(ds.PixelData, number_of_frames=1)
    ds = header(RLELossless)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    item = struct.pack("<HHI", 0xFFFE, 0xE000, len(fragment))
    with path.open("ab") as out:
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
        out.write(struct.pack("<HHI", 0xFFFE, 0xE000, 0))  # the offset table, empty
        for _ in range(FRAMES):
            out.write(item + fragment)
        out.write(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))


@pytest.mark.parametrize("encoding", ["native", "rle"])
def test_a_1_gb_multi_frame_instance_renders_within_300_mb(encoding: str, tmp_path: Path, user: User) -> None:
    path = tmp_path / f"{encoding}.dcm"
    (write_native if encoding == "native" else write_rle)(path)
    size = path.stat().st_size
    assert size >= 1024**3
    if encoding == "native":  # the middle frame is the one pydicom reads at its index
        assert int(pixel_array(str(path), index=FRAMES // 2)[0, 0]) == FRAMES // 2
    session = import_create(owner=user, uploads=[Upload(name="big.dcm", path=path)])
    assert session.instance_count == 1
    uid = session.instances.get().series_instance_uid
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dicom_transfer.settings",
        "DATABASE_URL": workers.test_database_url(),
        "DATA_DIR": str(Path(settings.IMPORTS_DIR).parent),  # this test's (conftest.py)
        "DEBUG": "1",
        "ENV_FILE": str(tmp_path / "no.env"),
    }
    url = f"/api/dicom/imports/{session.pk}/series/{uid}/thumbnail"
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(user.pk), url],
        cwd=workers.ROOT,
        env=environment,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert (report["status"], report["type"]) == (200, "image/png"), report["error"]
    peak_mb = report["peak_kb"] / 1024
    before_mb = report["before_kb"] / 1024
    print(f"{encoding} {size / 1024**3:.2f} GiB: peak RSS {peak_mb:.0f} MB (before the request {before_mb:.0f} MB)")
    assert peak_mb < PEAK_LIMIT_MB
    assert (session.directory / "thumbnails").is_dir()
