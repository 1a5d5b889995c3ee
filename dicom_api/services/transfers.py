"""Transfer services (see issue 5)."""

from __future__ import annotations


def transfer_recover_stale() -> int:
    """Queue again (or fail) transfers whose worker stopped beating; returns how many."""
    return 0
