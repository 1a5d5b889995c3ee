"""Waking idle workers at once when a job is queued.

django-tasks-db's worker polls the database, sleeping ``--interval`` seconds between empty polls.
``notify_workers()`` (called after a job is queued) wakes the sleeping workers, so a job starts
within milliseconds and idle workers can poll rarely (`make run`: every second):

* PostgreSQL: the process NOTIFYs a channel; each worker sleeps by waiting on it (LISTEN).
* SQLite (one machine, one DATA_DIR): each worker binds a UNIX datagram socket in
  ``DATA_DIR/wakeup/`` (a 0700 folder, so only the service's user can send to it) and sleeps in
  ``select`` on it; notifying is one datagram to each socket there. A socket left by a worker that
  died refuses the datagram and is removed. Where the path would be too long for a UNIX socket,
  workers fall back to polling.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import socket
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "dicom_transfer_jobs"


_UNIX_PATH_MAX = 107  # sun_path is 108 bytes on Linux, with a terminating NUL


def wakeup_dir() -> Path:
    return Path(settings.DATA_DIR) / "wakeup"


def notify_workers() -> None:
    """Tell sleeping workers that a job is ready (NOTIFY on PostgreSQL, datagrams on SQLite)."""
    if connection.vendor == "sqlite":
        _notify_sockets()
        return
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")
    except Exception:  # the job is queued anyway; the workers' polling finds it
        logger.warning("could not notify workers; they will find the job by polling", exc_info=True)


def _notify_sockets() -> None:
    try:
        entries = list(os.scandir(wakeup_dir()))
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for entry in entries:
            if not entry.name.endswith(".sock"):
                continue
            try:
                sender.sendto(b"!", entry.path)
            except BlockingIOError:
                pass  # its queue is full of wake-ups already
            except ConnectionRefusedError:
                # Nobody reads it: the socket of a worker that died.
                with contextlib.suppress(FileNotFoundError):
                    Path(entry.path).unlink()
            except OSError:
                logger.warning("could not wake a worker; it will find the job by polling", exc_info=True)


class _Sleeper(Protocol):
    def wait(self, seconds: float) -> None: ...

    def close(self) -> None: ...


class SocketListener:
    """A datagram socket in ``DATA_DIR/wakeup/``; ``wait`` is a sleep that a datagram ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        path.chmod(0o600)
        self.socket.setblocking(False)
        logger.info("worker listens for jobs on a wake-up socket")

    @classmethod
    def create(cls) -> SocketListener | None:
        directory = wakeup_dir()
        directory.mkdir(mode=0o700, exist_ok=True)
        path = directory / f"{secrets.token_hex(4)}.sock"
        if len(os.fsencode(path)) > _UNIX_PATH_MAX:
            logger.warning("DATA_DIR is too long a path for a wake-up socket; the worker polls instead")
            return None
        return cls(path)

    def wait(self, seconds: float) -> None:
        try:
            readable, _, _ = select.select([self.socket], [], [], seconds)
        except OSError:
            time.sleep(seconds)
            return
        if readable:
            with contextlib.suppress(BlockingIOError):
                while self.socket.recv(64):  # every wake-up that arrived meanwhile
                    pass

    def close(self) -> None:
        self.socket.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class Listener:
    """A connection of its own that LISTENs on the channel; ``wait`` is a wakeable sleep."""

    def __init__(self) -> None:
        import psycopg

        settings_dict = connection.settings_dict
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        self.connection = psycopg.connect(**params, autocommit=True)
        self.connection.execute(f"LISTEN {CHANNEL}")
        logger.info("worker listens for jobs on %s (%s)", CHANNEL, settings_dict.get("NAME"))

    def wait(self, seconds: float) -> None:
        try:
            for _ in self.connection.notifies(timeout=seconds, stop_after=1):
                break
        except Exception:
            logger.warning("listening for jobs failed; polling instead", exc_info=True)
            time.sleep(seconds)

    def close(self) -> None:
        self.connection.close()


class _WakeableTime:
    """Stands for the ``time`` module inside django-tasks-db's worker: its ``sleep`` returns early
    when a job is announced. Everything else is the real module."""

    def __init__(self, listener: _Sleeper) -> None:
        self._listener = listener

    def sleep(self, seconds: float) -> None:
        self._listener.wait(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def make_worker_wakeable(worker_module: ModuleType) -> Listener | SocketListener | None:
    """Make ``worker_module``'s sleeps wakeable; returns the listener to close (None: it polls)."""
    if not hasattr(worker_module, "time"):
        return None
    listener: Listener | SocketListener | None
    if connection.vendor == "postgresql":
        listener = Listener()
    elif connection.vendor == "sqlite":
        listener = SocketListener.create()
    else:
        listener = None
    if listener is not None:
        worker_module.time = _WakeableTime(listener)  # type: ignore[attr-defined]
    return listener
