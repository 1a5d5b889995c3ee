"""The staging area of an attempt (``services.staging``): under DATA_DIR, private while the send
runs, gone when it ends; what a dead worker left is removed by housekeeping."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from destinations.models import Destination
from dicom_api.models import Action, ImportSession, Status, TransferLog
from dicom_api.services import senders
from dicom_api.services.housekeeping import run_housekeeping
from dicom_api.services.staging import staging_area, staging_root
from dicom_api.services.transfer_run import transfer_run
from dicom_api.tests.transfers_helpers import make_transfer
from dicomnet import dcmsend
from testsupport.dicom_data import generate_series, import_files
from testsupport.peers import LOOPBACK, storescp

pytestmark = pytest.mark.django_db


def _private_tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` (itself included) with its permission bits."""
    modes = {".": stat.S_IMODE(root.lstat().st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            if not path.is_symlink():  # a symbolic link's own bits are always 0777 and mean nothing
                modes[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return modes


def test_a_send_stages_under_data_dir_privately_and_leaves_nothing(
    user: User, tmp_path: Path, make_destination: Callable[..., Destination], monkeypatch: Any, settings: Any
) -> None:
    series = generate_series(tmp_path / "src", 12, patient_name="STAGING^TEST")
    imported: ImportSession = import_files(user, series.files)
    # Links in dcmsend's working folder, as for a series too long for one command line.
    monkeypatch.setattr(dcmsend, "_MAX_FILE_ARGUMENT_BYTES", 0)
    settings.TRANSFER_PROGRESS_INTERVAL = 0.001
    seen: list[dict[str, int]] = []
    original = senders.send_dicom

    def watching(**kwargs: Any) -> dcmsend.SendReport:
        progress = kwargs["progress"]

        def snapshot(acknowledged: int, refused: int) -> bool:
            if not seen:
                seen.append(_private_tree(staging_root()))
            return bool(progress(acknowledged, refused))

        return original(**{**kwargs, "progress": snapshot})

    monkeypatch.setattr(senders, "sender_for", lambda destination: watching)
    with storescp(tmp_path / "received", "STAGED") as peer:
        destination = make_destination(ae_title="STAGED", host=LOOPBACK, port=peer.port)
        log = TransferLog.objects.create(
            user=user,
            username=user.username,
            action=Action.SEND,
            status=Status.PENDING,
            import_session=imported,
            series_instance_uid=series.series_instance_uid,
            instance_count=len(series.files),
            destination=destination,
        )
        transfer_run(transfer_id=log.pk, claim_token="test:1:staging")
        received = set(peer.received())
    log.refresh_from_db()
    assert log.status == Status.SUCCESS
    assert received == set(series.sop_instance_uids)
    assert staging_root() == Path(settings.DATA_DIR) / "staging"
    (tree,) = seen
    attempt = [name for name in tree if name.startswith(f"transfer-{log.pk}-") and "/" not in name]
    assert len(attempt) == 1, tree
    links = [name for name in tree if name.startswith(attempt[0] + "/") and name.count("/") >= 2]
    assert links, "dcmsend's working folder and its links are inside the attempt's staging folder"
    assert {name: oct(mode) for name, mode in tree.items() if mode & 0o077} == {}
    assert [p.name for p in staging_root().iterdir()] == []


def test_housekeeping_removes_staging_of_attempts_that_no_longer_run(user: User) -> None:
    running = make_transfer(user, Status.SENDING, claim_token="host:1:aaa")
    finished = make_transfer(user, Status.SUCCESS, claim_token="host:2:bbb")
    requeued = make_transfer(user, Status.SENDING, claim_token="host:3:new")
    with staging_area(transfer_id=running.pk, token="host:1:aaa") as kept:
        # What killed workers left: a finished transfer's, and an older attempt of one now re-claimed.
        for log, token in ((finished, "host:2:bbb"), (requeued, "host:3:old")):
            left = staging_root() / _folder(log.pk, token)
            (left / "copies").mkdir(mode=0o700, parents=True)
            (left / "copies" / "1.dcm").write_bytes(b"patient data")
        (staging_root() / "stray").write_text("x")
        (kept.copies / "2.dcm").write_bytes(b"in flight")
        assert run_housekeeping(only="sweep_staging") == {"sweep_staging": 3}
        assert sorted(p.name for p in staging_root().iterdir()) == [kept.path.name]
        assert (kept.copies / "2.dcm").exists()
    assert list(staging_root().iterdir()) == []


def _folder(transfer_id: int, token: str) -> str:
    with staging_area(transfer_id=transfer_id, token=token) as area:
        return area.path.name


def test_staging_folders_are_private_whatever_the_umask() -> None:
    old = os.umask(0)
    try:
        with staging_area(transfer_id=1, token="t") as area:
            copies = area.copies
            assert stat.S_IMODE(area.path.stat().st_mode) == 0o700
            assert stat.S_IMODE(copies.stat().st_mode) == 0o700
            assert stat.S_IMODE(staging_root().stat().st_mode) == 0o700
    finally:
        os.umask(old)
