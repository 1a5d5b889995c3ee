"""Reading destinations: who sees which. Admins (``is_staff``, the admin role) see all; everyone
else (operators, auditors) only the enabled ones (a disabled destination does not exist for them:
404, not 403)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from destinations.models import Destination
from dicom_transfer.exceptions import NotFoundError


def destinations_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Destination]:
    queryset = Destination.objects.select_related("created_by")
    if not getattr(user, "is_staff", False):
        queryset = queryset.filter(enabled=True)
    return queryset


def destination_get_visible(*, user: AbstractBaseUser | AnonymousUser, destination_id: int) -> Destination:
    destination = destinations_visible_to(user=user).filter(pk=destination_id).first()
    if destination is None:
        raise NotFoundError("No such destination.")
    return destination
