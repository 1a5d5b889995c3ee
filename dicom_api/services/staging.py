"""The staging area of a transfer attempt: the one place, under ``DATA_DIR/staging``, where the
worker writes anything for a send.

It holds dcmsend's working folder (its report file, and links to the files of a long series) and
the staged copies of instances that are changed before they leave (transcoded to a transfer
syntax the destination accepts, reconciled to another patient ID, de-identified): the stored
import is never changed. Each attempt gets its own folder, ``transfer-<id>-<digest of its claim>``
(0700), removed when the attempt ends, whatever the outcome. A worker killed mid-send leaves
its folder behind: ``staging_sweep`` (a housekeeping job) removes every folder whose attempt no
longer runs, so patient data never outlives its transfer there.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from dicom_api.models import Action, Status, TransferLog

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^transfer-(?P<id>\d+)-(?P<claim>[0-9a-f]{16})$")


@dataclass(frozen=True)
class StagingArea:
    """The folder of one attempt; ``work`` is dcmsend's, ``copies`` the staged instances'."""

    path: Path

    @property
    def work(self) -> Path:
        return self.path

    @property
    def copies(self) -> Path:
        folder = self.path / "copies"
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder


def staging_root() -> Path:
    root = Path(settings.DATA_DIR) / "staging"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def _claim_digest(token: str) -> str:
    # The claim token holds a host name; a digest of it is a safe folder name whatever it holds.
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _folder_name(transfer_id: int, token: str) -> str:
    return f"transfer-{transfer_id}-{_claim_digest(token)}"


@contextmanager
def staging_area(*, transfer_id: int, token: str) -> Iterator[StagingArea]:
    """The attempt's staging folder, created private and removed (with all it holds) at the end."""
    path = staging_root() / _folder_name(transfer_id, token)
    path.mkdir(mode=0o700, exist_ok=True)
    try:
        yield StagingArea(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def staging_sweep() -> int:
    """Remove the folders of attempts that no longer run (their worker died, or was killed before
    it could clean up); returns how many were removed. Safe from several processes at once: a
    folder is removed only when its transfer is not ``sending`` under that claim token, and a new
    attempt always has a new token."""
    root = staging_root()
    removed = 0
    for entry in root.iterdir():
        match = _NAME.match(entry.name)
        if match is not None:
            running = TransferLog.objects.filter(
                pk=int(match["id"]), action=Action.SEND, status=Status.SENDING
            ).values_list("claim_token", flat=True)
            if any(_claim_digest(token) == match["claim"] for token in running):
                continue  # its attempt is running
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
        logger.warning("staging: removed %s, left by an attempt that no longer runs", entry.name)
    return removed
