"""The folder of prometheus-client's multiprocess mode (``METRICS_DIR``): one file per web process.

A dead process's counts must stay while the server runs (removing them would make a total go
down, which Prometheus reads as a reset and counts twice), so files are removed only when their
process is gone at the next start of gunicorn (``on_starting``), and a dead worker's live gauges
at once (``child_exit``, prometheus-client's ``mark_process_dead``).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

_PID = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead(directory: Path) -> list[Path]:
    """Remove the files of processes that no longer run; returns what was removed."""
    removed = []
    for path in directory.glob("*.db"):
        match = _PID.search(path.name)
        if match and not _alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def process_dead(directory: Path, pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(directory))
