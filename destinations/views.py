"""``/api/destinations/``: CRUD for admins, reading for everyone signed in.

The connection test (``POST /api/destinations/{id}/test_connection/``) writes the audit trail, so
the app that owns the audit trail answers it (routed in ``dicom_transfer/urls.py``).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet
from rest_framework import serializers, viewsets

from destinations import services
from destinations.models import Destination
from destinations.permissions import IsAdminOrReadOnly
from destinations.selectors import destinations_visible_to
from destinations.serializers import DestinationSerializer
from dicom_api.models import ACTIVE_STATUSES, Action
from dicom_transfer.converters import IdConverter


class DestinationViewSet(viewsets.ModelViewSet[Destination]):
    """DICOM nodes series are sent to. Users see the enabled ones; admins see and manage all."""

    # Ids a database column can hold; a larger number matches no URL (404), never a 500.
    lookup_value_regex = IdConverter.regex

    serializer_class = DestinationSerializer
    permission_classes = [IsAdminOrReadOnly]
    filterset_fields = ["enabled"]

    def get_queryset(self) -> QuerySet[Destination]:
        # How many transfers to it are pending or sending: deleting it would fail them. (An
        # aggregate ignores Meta.ordering, hence the explicit order.)
        active = Count("logs", filter=Q(logs__action=Action.SEND, logs__status__in=ACTIVE_STATUSES))
        return destinations_visible_to(user=self.request.user).annotate(active_transfers=active).order_by("name")

    def perform_create(self, serializer: serializers.BaseSerializer[Destination]) -> None:
        user = self.request.user
        assert isinstance(user, User)
        serializer.instance = services.destination_create(
            created_by=user, request=self.request, **serializer.validated_data
        )

    def perform_update(self, serializer: serializers.BaseSerializer[Destination]) -> None:
        assert serializer.instance is not None
        services.destination_update(
            destination=serializer.instance, actor=self._actor(), request=self.request, **serializer.validated_data
        )

    def perform_destroy(self, instance: Destination) -> None:
        services.destination_delete(destination=instance, actor=self._actor(), request=self.request)

    def _actor(self) -> User:
        user = self.request.user
        assert isinstance(user, User)
        return user
