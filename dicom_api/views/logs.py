"""The audit log: ``GET /api/dicom/logs/`` and ``GET /api/dicom/logs/{id}/`` (read-only)."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dicom_api.filters import TransferLogFilter
from dicom_api.models import TransferLog
from dicom_api.pagination import LargeTablePagination
from dicom_api.renderers import CSVRenderer, csv_stream
from dicom_api.selectors.logs import deleted_destinations, transfer_log_csv_rows, transfer_log_visible_to
from dicom_api.serializers.logs import TransferLogSerializer
from dicom_transfer.openapi import ErrorDetailSerializer

logger = logging.getLogger(__name__)

FORMAT_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=["json", "csv"],
    description="`csv` streams every matching entry (no paging) as a CSV attachment.",
)


def csv_response(entries: QuerySet[TransferLog]) -> StreamingHttpResponse:
    """Stream ``entries`` as a CSV attachment, a chunk of rows at a time."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(
        csv_stream(transfer_log_csv_rows(entries=entries)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@extend_schema_view(
    list=extend_schema(
        parameters=[FORMAT_PARAMETER],
        responses={
            200: TransferLogSerializer(many=True),
            404: OpenApiResponse(ErrorDetailSerializer, description="The page is past the last one."),
        },
    ),
    retrieve=extend_schema(parameters=[FORMAT_PARAMETER]),
)
class TransferLogViewSet(viewsets.ReadOnlyModelViewSet[TransferLog]):
    """The audit trail. Users read their own entries, admins everyone's; nobody writes here."""

    serializer_class = TransferLogSerializer
    pagination_class = LargeTablePagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = TransferLogFilter
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    def get_queryset(self) -> QuerySet[TransferLog]:
        return transfer_log_visible_to(user=self.request.user)

    def _wants_csv(self) -> bool:
        renderer = getattr(self.request, "accepted_renderer", None)
        return isinstance(renderer, CSVRenderer)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        entries = self.filter_queryset(self.get_queryset())
        if self._wants_csv():
            logger.info("audit log CSV export (user id %s)", request.user.pk)
            return csv_response(entries)
        page = self.paginate_queryset(entries)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        # Query-string filters don't narrow a lookup by id: only visibility does.
        entry = get_object_or_404(self.get_queryset(), pk=kwargs["pk"])
        if self._wants_csv():
            return csv_response(self.get_queryset().filter(pk=entry.pk))
        return Response(self.get_serializer(entry).data)

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are always JSON, also when the client asked for CSV.
        if self._wants_csv():
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


class DeletedDestinationSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(
        allow_null=True,
        help_text="The id its entries kept (the `destination` filter's value); null for a destination "
        "deleted before entries kept ids: `deleted_destination` (its name) finds those.",
    )
    name = serializers.CharField()
    deleted_at = serializers.DateTimeField(allow_null=True, help_text="When it was deleted, if the log says.")


class DeletedDestinationsSerializer(serializers.Serializer[Any]):
    destinations = DeletedDestinationSerializer(many=True)


class DeletedDestinationsView(APIView):
    """``GET /api/dicom/logs/deleted-destinations/``: the destinations deleted since the caller's
    entries named them, A to Z (for the audit log's Destination filter)."""

    @extend_schema(responses={200: DeletedDestinationsSerializer})
    def get(self, request: Request) -> Response:
        entries = transfer_log_visible_to(user=request.user)
        found = deleted_destinations(entries=entries)
        return Response(DeletedDestinationsSerializer({"destinations": found}).data)
