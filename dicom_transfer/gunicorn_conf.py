"""gunicorn's settings for `make run` and production (``--config python:dicom_transfer.gunicorn_conf``).

Command-line options (``--bind``, ``--workers``, ``--access-logfile``) override these. Access
logs are off unless ``--access-logfile`` is given (`make run`: ``ACCESS_LOG=1``); when on,
control characters in any part of a line (URL, headers) are escaped, so a request cannot forge
a log line.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger

from dicom_transfer.logfilters import escape_control

# Files gunicorn writes (its temporary heartbeat files, logs) are private like everything else.
os.umask(0o077)

# gthread, but a request's headers and small body are read before a thread takes it, so slow
# clients cannot hold the threads (dicom_transfer/gunicorn_worker.py).
worker_class = "dicom_transfer.gunicorn_worker.BufferingThreadWorker"
workers = 2
threads = 4
# Connections a web process keeps open at once, each with up to JSON_MAX_BYTES buffered.
worker_connections = 256
# Long imports stream for minutes; a worker silent this long is stuck.
timeout = 600
# A stop (Ctrl-C, systemd, supervisord) waits this long for requests in flight, then ends them;
# shorter than supervisord's and the unit's stop timeout so gunicorn finishes its own shutdown.
graceful_timeout = 2
accesslog = None


class SafeAccessLogger(Logger):
    """gunicorn's logger with every access-log atom's control characters escaped."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: escape_control(value) if isinstance(value, str) else value for key, value in atoms.items()}


logger_class = SafeAccessLogger


def _metrics_dir() -> Any:
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dicom_transfer.settings")
    return settings.METRICS_DIR  # the settings also point prometheus-client's workers at it


def on_starting(server: Any) -> None:
    """The request counts of web processes that are gone start over with this server."""
    from dicom_transfer.metrics.multiproc import remove_dead

    remove_dead(_metrics_dir())


def child_exit(server: Any, worker: Any) -> None:
    from dicom_transfer.metrics.multiproc import process_dead

    process_dead(_metrics_dir(), worker.pid)
