"""The caller's imports as a list, and imports built in batches (``/imports/``, ``/imports/{id}/files/``,
``/imports/{id}/complete/``)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import User
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authentication.models import Role
from authentication.permissions import RolePolicy
from authentication.roles import role_of
from dicom_api.models import ImportSession
from dicom_api.pagination import LargeTablePagination
from dicom_api.selectors.import_list import import_list, import_manifest, import_partial_uploads
from dicom_api.selectors.imports import import_get, import_summary
from dicom_api.serializers.imports import (
    BatchResultSerializer,
    ImportListItemSerializer,
    ImportManifestSerializer,
    ImportOpenedSerializer,
    ImportRejectedSerializer,
    ImportResultSerializer,
    ImportUploadSerializer,
)
from dicom_api.services.import_batches import import_add_files, import_complete, import_open
from dicom_api.services.imports import NothingImportable, import_record_failure
from dicom_api.uploads import PathMultiPartParser
from dicom_api.views.upload_reading import received_uploads, record_refusal
from dicom_transfer.exceptions import StorageFullError, TooLargeError
from dicom_transfer.openapi import ErrorDetailSerializer

_NOT_FOUND = OpenApiResponse(ErrorDetailSerializer, description="No such import of yours.")
_CONFLICT = OpenApiResponse(ErrorDetailSerializer, description="The import is complete: nothing can be added.")


def _own_import(request: Request, import_id: uuid.UUID) -> ImportSession:
    session = import_get(owner=request.user, import_id=import_id)
    if session is None:
        raise Http404
    return session


class ImportListView(GenericAPIView[ImportSession]):
    """The caller's imports, newest first (``GET``); open a new import to fill in batches (``POST``)."""

    permission_classes = [RolePolicy]
    pagination_class = LargeTablePagination
    serializer_class = ImportListItemSerializer
    queryset = ImportSession.objects.none()  # for the schema; get() lists through the selector

    @extend_schema(
        parameters=[
            OpenApiParameter("user", OpenApiTypes.STR, description="Admins: the imports of the user of this username."),
        ],
        responses={
            200: ImportListItemSerializer(many=True),
            403: OpenApiResponse(ErrorDetailSerializer, description="`user` given by someone not an admin."),
            404: OpenApiResponse(ErrorDetailSerializer, description="The page is past the last one."),
        },
    )
    def get(self, request: Request) -> Response:
        username = request.query_params.get("user")
        if username and username != request.user.get_username():
            if role_of(request.user) != Role.ADMIN:
                raise PermissionDenied("Only administrators can list another user's imports.")
            imports = import_list(username=username)
        else:
            imports = import_list(owner=request.user)
        page = self.paginate_queryset(imports)
        return self.get_paginated_response(ImportListItemSerializer(page, many=True).data)

    @extend_schema(request=None, responses={201: ImportOpenedSerializer})
    def post(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        session = import_open(owner=request.user)
        return Response(ImportOpenedSerializer(session).data, status=status.HTTP_201_CREATED)


def _totals(session: ImportSession) -> dict[str, Any]:
    return {
        "import_id": session.pk,
        "state": session.state,
        "received_files": session.received_files,
        "received_bytes": session.received_bytes,
        "instance_count": session.instance_count,
        "duplicate_count": session.duplicate_count,
    }


class ImportFilesView(APIView):
    """An open import's files: what it has received (``GET``), and a batch more (``POST``)."""

    permission_classes = [RolePolicy]
    parser_classes = [PathMultiPartParser]

    @extend_schema(responses={200: ImportManifestSerializer, 404: _NOT_FOUND})
    def get(self, request: Request, import_id: uuid.UUID) -> Response:
        session = _own_import(request, import_id)
        body = {
            **_totals(session),
            "files": import_manifest(import_session=session),
            "uploads": import_partial_uploads(import_session=session),
        }
        return Response(ImportManifestSerializer(body).data)

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={
            201: BatchResultSerializer,
            400: OpenApiResponse(ErrorDetailSerializer, description="The body ended early: nothing was added."),
            404: _NOT_FOUND,
            409: _CONFLICT,
            413: OpenApiResponse(ErrorDetailSerializer, description="Beyond an upload limit; nothing was added."),
            507: OpenApiResponse(ErrorDetailSerializer, description="Not enough free storage; nothing was added."),
        },
    )
    def post(self, request: Request, import_id: uuid.UUID) -> Response:
        session = _own_import(request, import_id)
        with received_uploads(request, import_id=session.pk) as uploads:
            try:
                outcome = import_add_files(import_session=session, uploads=uploads)
            except (TooLargeError, StorageFullError) as e:
                record_refusal(request, e, import_id=session.pk)
                raise
        session.refresh_from_db()
        body = {
            **_totals(session),
            "errors": session.errors,
            "duplicates": session.duplicates,
            "batch": {
                "received_files": outcome.received_files,
                "received_bytes": outcome.received_bytes,
                "instance_count": outcome.instance_count,
                "duplicate_count": outcome.duplicate_count,
                "duplicates": outcome.duplicates,
                "errors": outcome.errors,
            },
        }
        return Response(BatchResultSerializer(body).data, status=status.HTTP_201_CREATED)


class ImportCompleteView(APIView):
    """Close an open import: it can then be sent. Answers its summary, as ``POST /import/`` does."""

    permission_classes = [RolePolicy]

    @extend_schema(
        request=None,
        responses={
            200: ImportResultSerializer,
            400: OpenApiResponse(ImportRejectedSerializer, description="No DICOM instance yet: it stays open."),
            404: _NOT_FOUND,
        },
    )
    def post(self, request: Request, import_id: uuid.UUID) -> Response:
        try:
            session = import_complete(import_session=_own_import(request, import_id), request=request)
        except NothingImportable as e:  # audited as POST /import/ audits it: an upload that imported nothing
            import_record_failure(
                user=request.user,
                request=request,
                message="No DICOM instance in the upload.",
                details={"import_id": str(import_id), "received_files": e.received_files, "error_count": len(e.errors)},
            )
            raise
        return Response(ImportResultSerializer(import_summary(import_session=session)).data)
