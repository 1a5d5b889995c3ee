"""What every DCMTK wrapper shares: finding the program, its version, its environment, and the one
rule that turns a timeout into DCMTK's whole seconds."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import time

_VERSION = re.compile(r"\$dcmtk: \S+ v(\S+)")
_version_cache: dict[str, tuple[float, str | None]] = {}
_VERSION_TTL = 60.0


class DcmtkNotFoundError(RuntimeError):
    """The DCMTK program is not installed, or not at the path given."""


def resolve(program: str) -> str:
    """The absolute path of a DCMTK program (a bare name is looked up on PATH)."""
    found = shutil.which(program)
    if found is None:
        raise DcmtkNotFoundError(
            f"{program} was not found. Install DCMTK (Debian/Ubuntu: apt-get install dcmtk) "
            f"or give the full path of the program."
        )
    return found


def version(program: str) -> str | None:
    """DCMTK's version of ``program`` (e.g. ``3.6.7``), or None when it can't be run."""
    now = time.monotonic()
    cached = _version_cache.get(program)
    if cached is not None and now - cached[0] < _VERSION_TTL:
        return cached[1]
    found: str | None
    try:
        completed = subprocess.run(
            [resolve(program), "--version"], capture_output=True, text=True, timeout=5, check=False
        )
        match = _VERSION.search(completed.stdout + completed.stderr)
        found = match.group(1) if match else None
    except (DcmtkNotFoundError, OSError, subprocess.TimeoutExpired):
        found = None
    _version_cache[program] = (now, found)
    return found


def child_environment() -> dict[str, str]:
    """The environment of a DCMTK child: ours plus TCP_NODELAY=1.

    Debian's DCMTK leaves Nagle's algorithm on unless TCP_NODELAY is set; small instances then
    wait for delayed ACKs (500 CT instances: 23 s without, 0.58 s with, on loopback).
    """
    environment = dict(os.environ)
    environment["TCP_NODELAY"] = "1"
    return environment


def whole_seconds(name: str, value: float) -> int:
    """A timeout as DCMTK takes it: whole seconds, rounded up (never shorter than asked), at least 1.

    Raises ``ValueError`` for a value that is not a positive finite number of seconds.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"the {name} must be a positive number of seconds, got {value!r}")
    return max(1, math.ceil(value))
