"""Testing a destination with a C-ECHO, written to the audit trail.

Here rather than in ``destinations`` so that the one edge between the two apps points
``dicom_api`` → ``destinations`` (README, "Layout").
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from django.utils import timezone

from destinations.models import Destination
from dicom_api.audit import audit_record
from dicom_api.models import Action, Status, TransferLog
from dicomnet.association import AssociationRequest
from dicomnet.echoscu import EchoResult, echo

logger = logging.getLogger(__name__)


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


def destination_test_connection(
    *,
    destination: Destination,
    user: AbstractBaseUser | AnonymousUser | None,
    request: HttpRequest | None = None,
) -> tuple[EchoResult, TransferLog]:
    """C-ECHO ``destination`` with our AE title and timeouts, and write the audit entry.
    Never raises for a failed echo."""
    result = echo(destination_association(destination), program=settings.ECHOSCU_PATH)
    details: dict[str, object] = {
        "category": result.category.value,
        "message": result.message,
        "duration_ms": result.duration_ms,
        "output": result.output,
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
