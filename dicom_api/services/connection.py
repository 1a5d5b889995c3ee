"""Testing a destination with a C-ECHO (a DICOMweb one with a QIDO-RS query), written to the audit trail.

Here rather than in ``destinations`` so that the one edge between the two apps points
``dicom_api`` → ``destinations`` (README, "Layout").
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from django.utils import timezone

from destinations import tls as tls_files
from destinations.models import Destination
from dicom_api.audit import audit_record
from dicom_api.models import Action, Status, TransferLog
from dicom_transfer.exceptions import ThrottledError
from dicomnet import dicomweb
from dicomnet.association import AssociationRequest
from dicomnet.echoscu import EchoCategory, EchoResult, echo

logger = logging.getLogger(__name__)

# A test runs in a web thread for up to the sum of the DICOM timeouts (a hung PACS): bound how many
# threads of this process such tests may hold, and let each user run one at a time.
_running_lock = threading.Lock()
_running_users: set[object] = set()


@contextlib.contextmanager
def _test_slot(user_key: object) -> Iterator[None]:
    with _running_lock:
        if user_key in _running_users:
            raise ThrottledError("A connection test of yours is still running; wait for its answer.", retry_after=5)
        if len(_running_users) >= settings.CONNECTION_TESTS_PER_PROCESS:
            raise ThrottledError("Other connection tests are running; try again in a few seconds.", retry_after=5)
        _running_users.add(user_key)
    try:
        yield
    finally:
        with _running_lock:
            _running_users.discard(user_key)


def destination_association(destination: Destination) -> AssociationRequest:
    """An association to ``destination`` as we make it: our AE title and timeouts from the settings."""
    return AssociationRequest(
        called_ae=destination.ae_title,
        host=destination.host,
        port=destination.port,
        calling_ae=settings.DICOM_CALLING_AE,
        connect_timeout=settings.DICOM_CONNECT_TIMEOUT,
        acse_timeout=settings.DICOM_ACSE_TIMEOUT,
        dimse_timeout=settings.DICOM_DIMSE_TIMEOUT,
    )


def _echo(destination: Destination) -> EchoResult:
    """C-ECHO, over TLS for a TLS destination (its certificates written to a private folder
    under DATA_DIR/tmp for echoscu, removed right after)."""
    if not destination.tls_profile:
        return echo(destination_association(destination), program=settings.ECHOSCU_PATH)
    with tempfile.TemporaryDirectory(prefix="tls-echo-", dir=settings.FILE_UPLOAD_TEMP_DIR) as folder:
        try:
            options = tls_files.tls_options(destination, folder=Path(folder))
        except tls_files.MissingKeyError as e:
            return EchoResult(False, EchoCategory.TLS, str(e), 0)
        return echo(destination_association(destination), program=settings.ECHOSCU_PATH, tls=options)


def destination_test_connection(
    *,
    destination: Destination,
    user: AbstractBaseUser | AnonymousUser | None,
    request: HttpRequest | None = None,
) -> tuple[EchoResult, TransferLog]:
    """C-ECHO ``destination`` with our AE title and timeouts, and write the audit entry.
    Never raises for a failed echo; raises ``ThrottledError`` when this user's previous test, or too
    many tests of this process, are still running."""
    from dicom_api.services.syntax_policy import destination_probe  # a cycle: it uses this module

    with _test_slot(getattr(user, "pk", None)):
        if destination.is_dicomweb:
            # QIDO-RS {url}/studies?limit=1: reachability and our credentials, changing nothing.
            from dicom_api.services.dicomweb import destination_target

            result, record = dicomweb.probe(destination_target(destination)), None
        else:
            result = _echo(destination)
            # What it accepts: storage presentation contexts negotiated, nothing sent (issue 15),
            # over DICOM TLS for a TLS destination.
            record = destination_probe(destination=destination) if result.success else None
    details: dict[str, object] = {
        "category": result.category.value,
        "message": result.message,
        "duration_ms": result.duration_ms,
        "output": result.output,
    }
    if record is not None:
        details["accepted_transfer_syntaxes"] = {
            "probed_at": record.get("probed_at"),
            "message": record.get("message", ""),
            "sop_classes": len(record.get("sop_classes", {})),
            "accepting_any": sum(1 for syntaxes in record.get("sop_classes", {}).values() if syntaxes),
        }
    if result.rejection is not None:
        details["rejection"] = {
            "result": result.rejection.result.value,
            "source": result.rejection.source,
            "reason": result.rejection.reason,
        }
    entry = audit_record(
        action=Action.TEST_CONNECTION,
        status=Status.SUCCESS if result.success else Status.FAILED,
        user=user,
        request=request,
        destination=destination,
        completed_at=timezone.now(),
        error_message="" if result.success else result.message,
        details=details,
    )
    logger.info(
        "connection test of destination %s: %s in %d ms (log %s)",
        destination.pk,
        result.category.value,
        result.duration_ms,
        entry.pk,
    )
    return result, entry
