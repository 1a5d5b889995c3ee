"""Writing the audit trail. Every entry snapshots what it names, so it never changes later."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.http import HttpRequest

from destinations.models import Destination
from dicom_api.models import Action, Status, TransferLog
from dicom_transfer.clients import client_address


def destination_snapshot(destination: Destination | None) -> dict[str, Any]:
    if destination is None:
        return {}
    return {
        "destination": destination,
        "destination_key": destination.pk,
        "destination_name": destination.name,
        "destination_ae_title": destination.ae_title,
        "destination_host": destination.host,
        "destination_port": destination.port,
    }


def keep_destination_key(sender: object, *, instance: Destination, **_: Any) -> None:
    """Before a destination is deleted (which empties its entries' ``destination``): its entries
    made before entries kept the id (migration 0016) get it now. Newer ones have it already."""
    TransferLog.objects.filter(destination_id=instance.pk, destination_key__isnull=True).update(
        destination_key=instance.pk
    )


def audit_record(
    *,
    action: Action,
    status: Status,
    user: AbstractBaseUser | AnonymousUser | None,
    request: HttpRequest | None = None,
    destination: Destination | None = None,
    username: str = "",
    **fields: Any,
) -> TransferLog:
    """Write one audit entry and return it."""
    real_user = user if isinstance(user, User) else None
    if real_user is not None and not username:
        username = real_user.get_username()
    return TransferLog.objects.create(
        action=action,
        status=status,
        user=real_user,
        username=username[:150],
        client_address=client_address(request),
        **destination_snapshot(destination),
        **fields,
    )


def record_account_event(
    sender: object,
    *,
    action: str,
    status: str,
    user: Any,
    request: HttpRequest | None,
    fields: dict[str, Any],
    **_: Any,
) -> TransferLog:
    """The receiver of ``authentication.audit.account_event`` (connected in ``DicomApiConfig.ready``)."""
    return audit_record(action=Action(action), status=Status(status), user=user, request=request, **fields)


def record_destination_event(
    sender: object,
    *,
    action: str,
    user: Any,
    request: HttpRequest | None,
    destination: Destination,
    details: dict[str, Any],
    **_: Any,
) -> TransferLog:
    """The receiver of ``destinations.audit.destination_event`` (connected in ``DicomApiConfig.ready``)."""
    return audit_record(
        action=Action(action),
        status=Status.SUCCESS,
        user=user,
        request=request,
        destination=destination,
        details=details,
    )
