"""``/api/destinations/``: CRUD for admins, reading and connection tests for everyone signed in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from destinations import services
from destinations.models import Destination
from destinations.permissions import IsAdminOrReadOnly
from destinations.serializers import ConnectionTestResultSerializer, DestinationSerializer
from dicom_transfer.converters import IdConverter


class DestinationViewSet(viewsets.ModelViewSet[Destination]):
    # Ids a database column can hold; a larger number matches no URL (404), never a 500.
    lookup_value_regex = IdConverter.regex
    """DICOM nodes series are sent to. Users see the enabled ones; admins see and manage all."""

    serializer_class = DestinationSerializer
    filterset_fields = ["enabled"]

    def get_queryset(self) -> QuerySet[Destination]:
        queryset = Destination.objects.select_related("created_by")
        if not getattr(self.request.user, "is_staff", False):
            # A disabled destination does not exist for a user (404, not 403).
            queryset = queryset.filter(enabled=True)
        return queryset

    def get_permissions(self) -> Sequence[BasePermission]:
        # Testing a destination is for everyone who can see it, not only for admins.
        if self.action == "test_connection":
            return [IsAuthenticated()]
        return [IsAdminOrReadOnly()]

    def perform_create(self, serializer: serializers.BaseSerializer[Destination]) -> None:
        user = self.request.user
        assert isinstance(user, User)
        try:
            serializer.instance = services.destination_create(created_by=user, **serializer.validated_data)
        except DjangoValidationError as e:
            raise serializers.ValidationError(e.message_dict) from None

    def perform_update(self, serializer: serializers.BaseSerializer[Destination]) -> None:
        assert serializer.instance is not None
        try:
            services.destination_update(destination=serializer.instance, **serializer.validated_data)
        except DjangoValidationError as e:
            raise serializers.ValidationError(e.message_dict) from None

    def perform_destroy(self, instance: Destination) -> None:
        services.destination_delete(destination=instance)

    @extend_schema(
        request=None,
        responses={200: ConnectionTestResultSerializer},
        description="C-ECHO the destination with DCMTK echoscu. A failed echo is still 200, with "
        "`success: false` and a message saying what to check. Every test is written to the audit trail.",
    )
    @action(detail=True, methods=["post"])
    def test_connection(self, request: Request, pk: Any = None) -> Response:
        destination = self.get_object()
        result, entry = services.destination_test_connection(
            destination=destination, user=request.user, request=request
        )
        body = {
            "success": result.success,
            "message": result.message,
            "duration_ms": result.duration_ms,
            "log_id": entry.pk,
            "category": result.category.value,
        }
        return Response(ConnectionTestResultSerializer(body).data, status=status.HTTP_200_OK)
