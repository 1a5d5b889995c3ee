"""Transfer endpoints: send, status, cancel, retry, a transfer's ledger. Transfers run in workers, never here."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dicom_api.models import Delivery, TransferInstance, TransferLog
from dicom_api.pagination import LargeTablePagination
from dicom_api.selectors.transfers import STATUS_MAX_IDS, transfer_get_own, transfer_instances, transfers_status
from dicom_api.serializers.transfers import (
    AlreadyDeliveredErrorSerializer,
    SendRequestSerializer,
    TransferCreatedListSerializer,
    TransferCreatedSerializer,
    TransferInstanceSerializer,
    TransferListSerializer,
    TransferStatusSerializer,
)
from dicom_api.services.transfers import transfer_cancel, transfer_retry, transfers_create
from dicom_api.services.verification import verification_request
from dicom_transfer.converters import MAX_ID
from dicom_transfer.openapi import ErrorDetailSerializer


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _own_transfer(request: Request, pk: int) -> TransferLog:
    return transfer_get_own(user=_user(request), transfer_id=pk)


class SendView(APIView):
    @extend_schema(
        request=SendRequestSerializer,
        responses={
            202: TransferCreatedListSerializer,
            409: OpenApiResponse(
                AlreadyDeliveredErrorSerializer,
                description="A series was already delivered to (or is being sent to) a destination; "
                '`"resend": true` sends it again.',
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = SendRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        logs = transfers_create(
            user=_user(request),
            import_id=data["import_id"],
            series_instance_uids=data["series_instance_uids"],
            destination_ids=data["destination_ids"],
            request=request,
            resend=data["resend"],
            patient=data.get("patient"),
        )
        return Response({"transfers": TransferCreatedSerializer(logs, many=True).data}, status=status.HTTP_202_ACCEPTED)


class StatusView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("ids", OpenApiTypes.STR, description="Comma-separated transfer ids (at most 500).")
        ],
        responses={
            200: TransferListSerializer,
            404: OpenApiResponse(ErrorDetailSerializer, description="One of the ids is not a transfer of yours."),
        },
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("ids")
        ids: list[int] | None = None
        if raw is not None:
            try:
                ids = list(dict.fromkeys(int(part) for part in raw.split(",") if part.strip()))
            except ValueError:
                raise ValidationError({"ids": ["Give transfer ids as comma-separated integers."]}) from None
            if not ids or len(ids) > STATUS_MAX_IDS:
                raise ValidationError({"ids": [f"Give between 1 and {STATUS_MAX_IDS} transfer ids."]})
            if not all(1 <= i <= MAX_ID for i in ids):
                raise ValidationError({"ids": [f"A transfer id is a whole number from 1 to {MAX_ID}."]})
        logs = transfers_status(user=_user(request), ids=ids)
        return Response({"transfers": TransferStatusSerializer(logs, many=True).data})


class CancelView(APIView):
    @extend_schema(
        request=None,
        responses={
            200: TransferStatusSerializer,
            409: OpenApiResponse(ErrorDetailSerializer, description="The transfer has already finished."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        log = _own_transfer(request, pk)
        log = transfer_cancel(log=log)
        return Response(TransferStatusSerializer(log).data)


class RetryView(APIView):
    @extend_schema(
        request=None,
        responses={
            202: TransferCreatedListSerializer,
            409: OpenApiResponse(
                ErrorDetailSerializer,
                description="Not failed or cancelled, or its import or destination is gone.",
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        log = _own_transfer(request, pk)
        new = transfer_retry(log=log, user=_user(request), request=request)
        return Response(
            {"transfers": TransferCreatedSerializer([new], many=True).data}, status=status.HTTP_202_ACCEPTED
        )


class VerifyView(APIView):
    @extend_schema(
        request=None,
        responses={
            202: TransferStatusSerializer,
            409: OpenApiResponse(ErrorDetailSerializer, description="Not a successful transfer."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        """Ask the destination (C-FIND, by a worker) which instances of the series it holds."""
        log = verification_request(log=_own_transfer(request, pk))
        return Response(TransferStatusSerializer(log).data, status=status.HTTP_202_ACCEPTED)


class InstancesView(generics.ListAPIView[TransferInstance]):
    """The ledger of one transfer: what became of each instance, in sending order."""

    serializer_class = TransferInstanceSerializer
    pagination_class = LargeTablePagination
    queryset = TransferInstance.objects.none()  # the schema's model; get_queryset says which rows

    def get_queryset(self) -> QuerySet[TransferInstance]:
        return transfer_instances(
            user=_user(self.request), transfer_id=self.kwargs["pk"], outcome=self.request.query_params.get("outcome")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("outcome", OpenApiTypes.STR, enum=Delivery.values, description="Only this outcome."),
        ],
        responses={
            200: TransferInstanceSerializer(many=True),
            400: OpenApiResponse(ErrorDetailSerializer, description="An unknown outcome."),
            404: OpenApiResponse(ErrorDetailSerializer, description="Not a transfer of yours, or past the last page."),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
