"""Import services (see issue 4)."""

from __future__ import annotations


def import_expire_all() -> int:
    """Delete expired imports and their files; returns how many were removed."""
    return 0
