"""``POST /api/destinations/{id}/test_connection/``: a C-ECHO of a destination, for everyone signed
in who can see it (a disabled destination is 404 for a user who is not an admin).

Routed in ``dicom_transfer/urls.py`` before ``/api/destinations/``: the operation writes the audit
trail, so it lives in ``dicom_api``, which may import ``destinations`` (never the other way).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from authentication.permissions import RolePolicy
from destinations.selectors import destination_get_visible
from destinations.serializers import accepted_syntaxes_view
from dicom_api.serializers.connection import ConnectionTestResultSerializer
from dicom_api.services.connection import destination_test_connection
from dicom_transfer.openapi import ErrorDetailSerializer


class ConnectionTestThrottle(UserRateThrottle):
    """``CONNECTION_TEST_RATE`` tests per user (429 with Retry-After beyond it)."""

    scope = "connection_test"

    def get_rate(self) -> str:
        return "connection_test"  # parsed below: the setting is already (count, seconds)

    def parse_rate(self, rate: str | None) -> tuple[int, int]:
        count, seconds = settings.CONNECTION_TEST_RATE
        return count, seconds


class DestinationTestConnectionView(APIView):
    # Not for auditors: they change nothing, and a test writes the audit trail.
    permission_classes = [RolePolicy]
    throttle_classes = [ConnectionTestThrottle]

    @extend_schema(
        operation_id="destinations_test_connection_create",
        tags=["destinations"],
        parameters=[
            OpenApiParameter(
                "id",
                OpenApiTypes.INT,
                OpenApiParameter.PATH,
                description="A unique integer value identifying this destination.",
            )
        ],
        request=None,
        responses={
            200: ConnectionTestResultSerializer,
            429: OpenApiResponse(
                ErrorDetailSerializer,
                description="This user's previous test, or too many tests at once, are still running; or more "
                "than CONNECTION_TEST_RATE tests. Retry-After says when to try again.",
            ),
        },
        description="C-ECHO the destination with DCMTK echoscu; after a successful echo, negotiate storage "
        "presentation contexts (pynetdicom, nothing sent) to learn which transfer syntaxes it accepts for which "
        "SOP classes, kept as the destination's `accepted_transfer_syntaxes`. A failed echo is still 200, with "
        "`success: false` and a message saying what to check. Every test is written to the audit trail.",
    )
    def post(self, request: Request, id: int) -> Response:
        destination = destination_get_visible(user=request.user, destination_id=id)
        result, entry = destination_test_connection(destination=destination, user=request.user, request=request)
        body = {
            "success": result.success,
            "message": result.message,
            "duration_ms": result.duration_ms,
            "log_id": entry.pk,
            "category": result.category.value,
            "accepted_transfer_syntaxes": accepted_syntaxes_view(destination.accepted_transfer_syntaxes)
            if result.success
            else None,
        }
        return Response(ConnectionTestResultSerializer(body).data, status=status.HTTP_200_OK)
