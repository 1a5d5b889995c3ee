"""``GET /api/health/``: can this deployment do its job? No patient data, no secrets."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dicomnet import programs

logger = logging.getLogger(__name__)


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as e:  # any failure means "down"
        return {"ok": False, "vendor": connection.vendor, "error": type(e).__name__}
    return {"ok": True, "vendor": connection.vendor}


def _binary(program: str) -> dict[str, Any]:
    found = programs.version(program)
    if found is None:
        return {"ok": False, "error": "not found or not runnable; install DCMTK or set its path"}
    return {"ok": True, "version": found}


def _storescu(database_ok: bool) -> dict[str, Any]:
    """storescu sends to DICOM TLS destinations only (dcmsend 3.6.7 has no TLS): missing, it makes
    the service unavailable only while an enabled destination needs it."""
    from destinations.models import Destination

    part = _binary(settings.STORESCU_PATH)
    try:
        needed = database_ok and Destination.objects.filter(enabled=True).exclude(tls_profile="").exists()
    except Exception:  # the database part says what is wrong
        needed = False
    part["needed"] = needed
    if not part["ok"] and not needed:
        part["ok"] = True
        part["error"] += " (needed only for DICOM TLS destinations; none is enabled)"
    return part


def _worker() -> dict[str, Any]:
    from dicom_api.models import WorkerHeartbeat

    try:
        last_seen = WorkerHeartbeat.objects.aggregate(last=Max("last_seen"))["last"]
    except Exception as e:
        return {"ok": False, "error": type(e).__name__}
    if last_seen is None:
        return {"ok": False, "error": "no worker has ever reported; start `manage.py db_worker`"}
    age = (timezone.now() - last_seen).total_seconds()
    alive = WorkerHeartbeat.objects.filter(
        last_seen__gte=timezone.now() - timedelta(seconds=settings.WORKER_STALE_AFTER)
    ).count()
    result: dict[str, Any] = {"ok": age <= settings.WORKER_STALE_AFTER, "last_heartbeat_age_s": round(age, 1)}
    result["alive"] = alive
    if not result["ok"]:
        result["error"] = "no worker heartbeat recently; is `manage.py db_worker` running?"
    return result


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    database = _database()
    parts = {
        "database": database,
        "echoscu": _binary(settings.ECHOSCU_PATH),
        "dcmsend": _binary(settings.DCMSEND_PATH),
        "storescu": _storescu(database["ok"]),
        "worker": _worker() if database["ok"] else {"ok": False, "error": "database unavailable"},
    }
    healthy = all(part["ok"] for part in parts.values())
    response = JsonResponse({"status": "ok" if healthy else "unavailable", **parts}, status=200 if healthy else 503)
    if not healthy:
        # A 503 here is an answer, not a server error: while workers start (no heartbeat yet) or
        # a part is down, say which at WARNING instead of Django's ERROR line for every 5xx.
        logger.warning("health: unavailable (%s)", ", ".join(name for name, part in parts.items() if not part["ok"]))
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response
