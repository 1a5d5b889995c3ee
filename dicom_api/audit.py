"""Writing the audit trail. Every entry snapshots what it names, so it never changes later."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.http import HttpRequest

from destinations.models import Destination
from dicom_api.models import Action, Status, TransferLog


def client_address(request: HttpRequest | None) -> str | None:
    """The client's IP address: the socket's, unless trusted proxies are configured."""
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            address = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def destination_snapshot(destination: Destination | None) -> dict[str, Any]:
    if destination is None:
        return {}
    return {
        "destination": destination,
        "destination_name": destination.name,
        "destination_ae_title": destination.ae_title,
        "destination_host": destination.host,
        "destination_port": destination.port,
    }


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
