"""HTTP request latency by view, counted in each web process (prometheus-client's multiprocess
mode: every process writes its own file in ``METRICS_DIR``, a scrape sums them).

The view label is the URL pattern's name (``dicom-transfer-cancel``), never the path: a path
carries ids, and a name is one series however many transfers there are.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import Histogram, values

if values.ValueClass is values.MutexValue:  # pragma: no cover - a deployment error
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "prometheus_client was imported before the settings set PROMETHEUS_MULTIPROC_DIR: "
        "each web process would count only its own requests."
    )

REQUEST_DURATION = Histogram(
    "dicom_transfer_http_request_duration_seconds",
    "Time to answer an HTTP request, by view (URL name), method and status code.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def view_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or "unnamed"
    if request.path.startswith(settings.STATIC_URL):
        return "static"  # answered by WhiteNoise, before URL resolution
    return "unmatched"


def _make_private() -> None:
    """This process's files are for the service alone, whatever the umask it was started with."""
    for path in settings.METRICS_DIR.glob(f"*_{os.getpid()}.db"):
        path.chmod(0o600)


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.private_pid = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        REQUEST_DURATION.labels(view_label(request), method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        if self.private_pid != os.getpid():  # once per process (a fork gets its own files)
            _make_private()
            self.private_pid = os.getpid()
        return response
