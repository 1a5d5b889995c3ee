"""A full disk answers 507 and leaves no partial import: no row, no file, no temporary upload.

The storage is a real 4 MiB tmpfs mounted by the test (we run as root, in CI too), with the free
space reserve (STORAGE_MIN_FREE_BYTES) at 0 so that the write itself fails with ENOSPC, the way a
disk fills up under a running import. Where mounting is impossible (no CAP_SYS_ADMIN), these
tests skip with the reason, and fail in CI (``CI=true``): an emulated full disk would only test
the reserve, which is tested on its own at the end.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from dicom_api.models import Action, DicomInstance, ImportSession, Status, TransferLog
from testsupport.dicom_data import instance, upload, zip_bytes

pytestmark = pytest.mark.django_db

SIZE = 4 * 1024**2


@pytest.fixture
def small_disk(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """A real 4 MiB tmpfs; skips loudly where it can't be mounted, and fails in CI."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point)], capture_output=True, text=True
        )
        failure = result.stderr.strip() if result.returncode != 0 else ""
    except FileNotFoundError:
        failure = "no mount program"
    if failure:
        reason = f"a 4 MiB tmpfs could not be mounted (needs root or CAP_SYS_ADMIN): {failure}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the disk-full tests")
        pytest.skip(reason)
    settings.STORAGE_MIN_FREE_BYTES = 0
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def assert_nothing_left(*directories: Path) -> None:
    assert not ImportSession.objects.exists()
    assert not DicomInstance.objects.exists()
    for directory in directories:
        assert [p for p in directory.rglob("*") if p.is_file()] == [], directory
    entry = TransferLog.objects.get(action=Action.IMPORT)
    assert (entry.status, entry.details["status"]) == (Status.FAILED, 507)


def big_instances(count: int) -> list[Any]:
    return [upload(f"i{n}.dcm", instance(pixel_bytes=1024**2)) for n in range(count)]


def test_the_import_folder_filling_up_answers_507_and_leaves_nothing(
    client_user: APIClient, small_disk: Path, settings: Any, tmp_path: Path
) -> None:
    settings.IMPORTS_DIR = small_disk / "imports"
    settings.IMPORTS_DIR.mkdir()
    response = client_user.post("/api/dicom/import/", {"files": big_instances(6)})
    assert response.status_code == 507
    assert "storage" in response.json()["detail"]
    assert_nothing_left(small_disk, Path(settings.FILE_UPLOAD_TEMP_DIR))


def test_the_upload_area_filling_up_answers_507_and_leaves_nothing(
    client_user: APIClient, small_disk: Path, settings: Any
) -> None:
    settings.IMPORTS_DIR = small_disk / "imports"
    settings.FILE_UPLOAD_TEMP_DIR = str(small_disk / "tmp")
    settings.IMPORTS_DIR.mkdir()
    (small_disk / "tmp").mkdir()
    response = client_user.post("/api/dicom/import/", {"files": big_instances(6)})
    assert response.status_code == 507
    assert_nothing_left(small_disk)


def test_a_zip_filling_up_the_disk_while_extracted_answers_507_and_leaves_nothing(
    client_user: APIClient, small_disk: Path, settings: Any
) -> None:
    settings.IMPORTS_DIR = small_disk / "imports"
    settings.IMPORTS_DIR.mkdir()
    # Random-looking pixels so the archive is not a compression bomb: 6 MiB in, ~6 MiB out.
    members = {f"i{n}.dcm": instance(pixel_bytes=1024**2) for n in range(6)}
    noise = random.Random(9).randbytes(1024**2)
    members = {name: content[: -(1024**2)] + noise for name, content in members.items()}
    response = client_user.post("/api/dicom/import/", {"files": [upload("study.zip", zip_bytes(members))]})
    assert response.status_code == 507
    assert_nothing_left(small_disk, Path(settings.FILE_UPLOAD_TEMP_DIR))


def test_the_free_space_reserve_refuses_an_upload_before_it_is_written(
    client_user: APIClient, settings: Any, tmp_path: Path
) -> None:
    # A GiB beyond what is free: the shared disk's free space moves while the test runs.
    settings.STORAGE_MIN_FREE_BYTES = shutil.disk_usage(tmp_path).free + 1024**3
    response = client_user.post("/api/dicom/import/", {"files": big_instances(1)})
    assert response.status_code == 507
    assert_nothing_left(tmp_path / "imports", Path(settings.FILE_UPLOAD_TEMP_DIR))
