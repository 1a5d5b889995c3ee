"""Import endpoints: upload (``POST /import/``), read again and discard (``/imports/{id}/``), and
a series' thumbnail (``/imports/{id}/series/{uid}/thumbnail``)."""

from __future__ import annotations

import logging
import uuid

from django.contrib.auth.models import User
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authentication.permissions import RolePolicy
from dicom_api.dicomfile import uid_is_valid
from dicom_api.selectors.imports import import_get, import_summary
from dicom_api.serializers.imports import ImportRejectedSerializer, ImportResultSerializer, ImportUploadSerializer
from dicom_api.services.imports import NothingImportable, import_create, import_delete, import_record_failure
from dicom_api.services.thumbnails import series_thumbnail
from dicom_api.uploads import PathMultiPartParser
from dicom_api.views.upload_reading import received_uploads, record_refusal
from dicom_transfer.exceptions import StorageFullError, TooLargeError
from dicom_transfer.openapi import ErrorDetailSerializer

logger = logging.getLogger(__name__)


class ImportView(APIView):
    """Upload DICOM files and ZIP archives (multipart, field ``files`` repeated)."""

    permission_classes = [RolePolicy]
    parser_classes = [PathMultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={
            201: ImportResultSerializer,
            400: ImportRejectedSerializer,
            413: OpenApiResponse(ErrorDetailSerializer, description="Beyond an upload limit; nothing was imported."),
            507: OpenApiResponse(ErrorDetailSerializer, description="Not enough free storage; nothing was imported."),
        },
    )
    def post(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        with received_uploads(request) as uploads:
            try:
                session = import_create(owner=request.user, uploads=uploads, request=request)
            except NothingImportable as e:
                import_record_failure(
                    user=request.user,
                    request=request,
                    message="No DICOM instance in the upload.",
                    details={"received_files": e.received_files, "error_count": len(e.errors)},
                )
                raise
            except (TooLargeError, StorageFullError) as e:
                record_refusal(request, e, import_id=None)
                raise
        return Response(
            ImportResultSerializer(import_summary(import_session=session)).data, status=status.HTTP_201_CREATED
        )


class ImportDetailView(APIView):
    """One of the caller's imports: its grouping again, or discard it and its files."""

    permission_classes = [RolePolicy]

    @extend_schema(responses={200: ImportResultSerializer})
    def get(self, request: Request, import_id: uuid.UUID) -> Response:
        session = import_get(owner=request.user, import_id=import_id)
        if session is None:
            raise Http404
        return Response(ImportResultSerializer(import_summary(import_session=session)).data)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(ErrorDetailSerializer, description="A transfer of this import is in flight."),
        }
    )
    def delete(self, request: Request, import_id: uuid.UUID) -> Response:
        session = import_get(owner=request.user, import_id=import_id)
        if session is None:
            raise Http404
        import_delete(import_session=session, user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SeriesWithoutImageSerializer(ErrorDetailSerializer):
    """``{"detail": ..., "reason": "no_image" | "unreadable"}``: why a series has no thumbnail."""

    reason = serializers.ChoiceField(choices=["no_image", "unreadable"])


class SeriesThumbnailView(APIView):
    """A small PNG of a series of one of the caller's imports (its middle image, windowed)."""

    permission_classes = [RolePolicy]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # The picture is answered as is; only an error goes through a renderer, always as JSON
        # (a client that asks for image/png gets its 404 or 422 as JSON, not a 406).
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="At most 128 × 128 pixels."),
            404: OpenApiResponse(
                ErrorDetailSerializer, description="Not one of the caller's imports, or no such series in it."
            ),
            422: OpenApiResponse(
                SeriesWithoutImageSerializer,
                description="The series has no image (`no_image`: a report, an RT plan...) or its image "
                "can't be decoded (`unreadable`).",
            ),
        }
    )
    def get(self, request: Request, import_id: uuid.UUID, series_instance_uid: str) -> HttpResponse:
        session = import_get(owner=request.user, import_id=import_id)
        if session is None or not uid_is_valid(series_instance_uid):
            raise Http404
        thumbnail = series_thumbnail(import_session=session, series_instance_uid=series_instance_uid)
        response = HttpResponse(thumbnail.content, content_type=thumbnail.content_type)
        # The same series always gives the same picture while the import lives.
        response["Cache-Control"] = "private, max-age=86400"
        return response
