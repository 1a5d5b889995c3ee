"""``GET /api/dicom/dashboard/?window=24h|7d``: admins and auditors (everyone's transfers, as
figures); operators get 403."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authentication.permissions import ReadsEveryAuditEntry
from dicom_api.selectors.dashboard import WINDOWS, dashboard_get
from dicom_api.serializers.dashboard import DashboardSerializer
from dicom_transfer.openapi import ErrorDetailSerializer


class DashboardView(APIView):
    permission_classes = [ReadsEveryAuditEntry]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "window", OpenApiTypes.STR, enum=list(WINDOWS), default="24h", description="The last 24 h or 7 days."
            )
        ],
        responses={
            200: DashboardSerializer,
            400: OpenApiResponse(ErrorDetailSerializer, description="An unknown window."),
        },
        summary="Transfers per destination over a window, and the queue now",
    )
    def get(self, request: Request) -> Response:
        return Response(DashboardSerializer(dashboard_get(window=request.query_params.get("window", "24h"))).data)
