"""What the service left on disk: paths others may read, and copies of an import's files.

For the hardening tests (issue 21): after an import, a transfer and the import's deletion, no
file anywhere the service wrote may still hold the import's data, and nothing under DATA_DIR may
carry group or other permission bits.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


def exposed_paths(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) with a group or other permission bit, with its
    mode. Symbolic links are left out: their own bits are always 0777 and mean nothing."""
    found = []
    for path in [root, *root.rglob("*")]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue  # removed meanwhile (a running service)
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path} {stat.S_IMODE(mode):o}")
    return found


@dataclass(frozen=True)
class Fingerprints:
    """What identifies a copy of an import's files: the same inode (a hard link), the same bytes,
    or the patient's name in the content (a staged, changed copy)."""

    inodes: frozenset[tuple[int, int]]
    digests: frozenset[str]
    marker: bytes

    @classmethod
    def of(cls, files: Iterable[Path], *, marker: str) -> Fingerprints:
        inodes, digests = set(), set()
        for path in files:
            info = path.stat()
            inodes.add((info.st_dev, info.st_ino))
            digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
        return cls(frozenset(inodes), frozenset(digests), marker.encode())


def copies_of(fingerprints: Fingerprints, roots: Iterable[Path], *, by_name: bool = True) -> list[str]:
    """Every file under ``roots`` that is a copy (or a link) of one of the fingerprinted files;
    ``by_name=False`` leaves the patient's name out (for a database: the audit trail names the
    patient of every transfer on purpose)."""
    found = []
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = Path(folder, name)
                try:
                    info = path.stat()  # through a symbolic link: what it points to
                    if not stat.S_ISREG(info.st_mode):
                        continue
                    if (info.st_dev, info.st_ino) in fingerprints.inodes:
                        found.append(f"{path} (a link to an imported file)")
                        continue
                    content = path.read_bytes()
                except FileNotFoundError:
                    continue
                if hashlib.sha256(content).hexdigest() in fingerprints.digests:
                    found.append(f"{path} (a copy of an imported file)")
                elif by_name and fingerprints.marker in content:
                    found.append(f"{path} (holds the patient's name)")
    return found
