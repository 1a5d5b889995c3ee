"""A large file into an open import in chunks: ``POST /imports/{id}/uploads/`` announces it,
``PATCH /imports/{id}/uploads/{upload_id}/?offset=N`` sends the next chunk as the raw body,
``GET`` of the upload says where to go on from."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authentication.permissions import RolePolicy
from dicom_api.models import ImportSession, ImportUpload
from dicom_api.selectors.imports import import_get
from dicom_api.serializers.imports import BatchOutcomeSerializer
from dicom_api.services.import_chunks import AppendOutcome, import_upload_append, import_upload_start
from dicom_api.services.imports import import_record_failure
from dicom_api.storage import check_free_space, raise_if_disk_full
from dicom_api.uploads import CountedBody, UploadInterrupted, client_path
from dicom_api.views.upload_reading import record_refusal
from dicom_transfer.exceptions import InvalidInputError, StorageFullError, TooLargeError
from dicom_transfer.openapi import ErrorDetailSerializer

_READ = 1024 * 1024


class UploadStartSerializer(serializers.Serializer):
    path = serializers.CharField(max_length=1024, help_text="The file's relative path, as a batch would name it.")
    size_bytes = serializers.IntegerField(min_value=1)


class UploadStateSerializer(serializers.Serializer):
    upload_id = serializers.UUIDField(source="id")
    path = serializers.CharField()
    size_bytes = serializers.IntegerField()
    offset = serializers.IntegerField(help_text="Bytes the server has: the next chunk starts here.")


class ChunkResultSerializer(serializers.Serializer):
    upload_id = serializers.UUIDField()
    offset = serializers.IntegerField()
    size_bytes = serializers.IntegerField()
    complete = serializers.BooleanField(help_text="The whole file is in and was added to the import.")
    batch = BatchOutcomeSerializer(allow_null=True, help_text="Once complete: what the file added.")


def _own_import(request: Request, import_id: uuid.UUID) -> ImportSession:
    session = import_get(owner=request.user, import_id=import_id)
    if session is None:
        raise Http404
    return session


class ImportUploadsView(APIView):
    """Announce a large file to send in chunks; answers where to start (0, or where it stopped)."""

    permission_classes = [RolePolicy]

    @extend_schema(
        request=UploadStartSerializer,
        responses={
            201: UploadStateSerializer,
            200: OpenApiResponse(UploadStateSerializer, description="Begun before: go on from `offset`."),
            409: OpenApiResponse(ErrorDetailSerializer, description="The import is complete."),
            413: OpenApiResponse(ErrorDetailSerializer, description="Larger than UPLOAD_MAX_BYTES."),
        },
    )
    def post(self, request: Request, import_id: uuid.UUID) -> Response:
        session = _own_import(request, import_id)
        given = UploadStartSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        path = client_path(given.validated_data["path"])
        existed = ImportUpload.objects.filter(import_session=session, path=path).exists()
        upload = import_upload_start(import_session=session, **given.validated_data)
        return Response(
            UploadStateSerializer(upload).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        )


class ImportUploadDetailView(APIView):
    """Where a chunked upload stands (``GET``), and its next chunk (``PATCH``, the raw bytes)."""

    permission_classes = [RolePolicy]
    parser_classes: list[Any] = []  # the body is read as it is, never parsed

    def _upload(self, request: Request, import_id: uuid.UUID, upload_id: uuid.UUID) -> ImportUpload:
        session = _own_import(request, import_id)
        upload = ImportUpload.objects.filter(pk=upload_id, import_session=session).select_related("import_session")
        found = upload.first()
        if found is None:
            raise Http404
        return found

    @extend_schema(responses={200: UploadStateSerializer})
    def get(self, request: Request, import_id: uuid.UUID, upload_id: uuid.UUID) -> Response:
        return Response(UploadStateSerializer(self._upload(request, import_id, upload_id)).data)

    @extend_schema(
        parameters=[OpenApiParameter("offset", OpenApiTypes.INT, required=True, description="Where the chunk starts.")],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={
            200: ChunkResultSerializer,
            400: OpenApiResponse(ErrorDetailSerializer, description="The body ended early: the chunk was not kept."),
            409: OpenApiResponse(ErrorDetailSerializer, description="The chunk does not start at `offset`."),
            413: OpenApiResponse(ErrorDetailSerializer, description="Past the announced size, or a limit."),
        },
    )
    def patch(self, request: Request, import_id: uuid.UUID, upload_id: uuid.UUID) -> Response:
        upload = self._upload(request, import_id, upload_id)
        try:
            offset = int(request.query_params.get("offset", ""))
        except ValueError:
            raise InvalidInputError("Give the chunk's start as ?offset=<bytes>.", field="offset") from None
        body = CountedBody.install(request._request)
        if body.expected < 1:
            raise InvalidInputError("Send the chunk's bytes as the body, with a Content-Length.")
        temporary = Path(settings.FILE_UPLOAD_TEMP_DIR)
        try:
            check_free_space(temporary, body.expected)
            with tempfile.NamedTemporaryFile(dir=temporary, prefix="chunk-") as chunk:
                try:
                    while data := request._request.read(_READ):
                        chunk.write(data)
                    chunk.flush()
                except OSError as e:
                    if not body.ended_early:
                        raise_if_disk_full(e)
                        raise
                if body.ended_early:
                    raise self._interrupted(request, upload, body, offset)
                outcome = import_upload_append(upload=upload, offset=offset, chunk=Path(chunk.name))
        except (TooLargeError, StorageFullError) as e:
            record_refusal(request, e, import_id=upload.import_session_id)
            raise
        return Response(ChunkResultSerializer(self._result(upload, outcome)).data)

    @staticmethod
    def _interrupted(request: Request, upload: ImportUpload, body: CountedBody, offset: int) -> UploadInterrupted:
        error = UploadInterrupted(received_bytes=body.received, expected_bytes=body.expected, files_begun=1)
        details = {**error.details, "import_id": str(upload.import_session_id), "chunk_offset": offset}
        import_record_failure(user=request.user, request=request, message=error.message, details=details)
        return error

    @staticmethod
    def _result(upload: ImportUpload, outcome: AppendOutcome) -> dict[str, Any]:
        batch = outcome.batch
        return {
            "upload_id": upload.pk,
            "offset": outcome.offset,
            "size_bytes": upload.size_bytes,
            "complete": batch is not None,
            "batch": None if batch is None else batch.__dict__,
        }
