"""Transfer endpoints: send, status, cancel, retry. Transfers run in workers, never here."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dicom_api.models import ACTIVE_STATUSES, Action, TransferLog
from dicom_api.serializers.transfers import (
    SendRequestSerializer,
    TransferCreatedListSerializer,
    TransferCreatedSerializer,
    TransferListSerializer,
    TransferStatusSerializer,
)
from dicom_api.services.transfers import TransferError, transfer_cancel, transfer_retry, transfers_create
from dicom_transfer.converters import MAX_ID
from dicom_transfer.openapi import ErrorDetailSerializer


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _raise(error: TransferError) -> Response:
    if error.status_code == 400:
        raise ValidationError({error.field: [error.message]} if error.field else {"detail": error.message})
    return Response({"detail": error.message}, status=error.status_code)


def _own_transfer(request: Request, pk: int) -> TransferLog:
    log = TransferLog.objects.filter(pk=pk, action=Action.SEND, user=_user(request)).first()
    if log is None:
        raise NotFound("No such transfer of yours.")
    return log


class SendView(APIView):
    @extend_schema(request=SendRequestSerializer, responses={202: TransferCreatedListSerializer})
    def post(self, request: Request) -> Response:
        serializer = SendRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            logs = transfers_create(
                user=_user(request),
                import_id=data["import_id"],
                series_instance_uids=data["series_instance_uids"],
                destination_ids=data["destination_ids"],
                request=request,
            )
        except TransferError as e:
            return _raise(e)
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
        user = _user(request)
        raw = request.query_params.get("ids")
        query = TransferLog.objects.filter(action=Action.SEND, user=user)
        if raw is not None:
            try:
                ids = list(dict.fromkeys(int(part) for part in raw.split(",") if part.strip()))
            except ValueError:
                raise ValidationError({"ids": ["Give transfer ids as comma-separated integers."]}) from None
            if not ids or len(ids) > 500:
                raise ValidationError({"ids": ["Give between 1 and 500 transfer ids."]})
            if not all(1 <= i <= MAX_ID for i in ids):
                raise ValidationError({"ids": [f"A transfer id is a whole number from 1 to {MAX_ID}."]})
            logs = list(query.filter(pk__in=ids).order_by("id"))
            if len(logs) != len(ids):
                raise NotFound(
                    "No such transfer of yours: "
                    + ", ".join(str(i) for i in sorted(set(ids) - {log.pk for log in logs}))
                )
        else:
            recent = timezone.now() - timedelta(hours=1)
            logs = list(query.filter(Q(status__in=ACTIVE_STATUSES) | Q(completed_at__gte=recent)).order_by("id")[:500])
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
        try:
            log = transfer_cancel(log=log)
        except TransferError as e:
            return _raise(e)
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
        try:
            new = transfer_retry(log=log, user=_user(request), request=request)
        except TransferError as e:
            return _raise(e)
        return Response(
            {"transfers": TransferCreatedSerializer([new], many=True).data}, status=status.HTTP_202_ACCEPTED
        )
