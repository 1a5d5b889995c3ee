"""Who a pseudonym stands for: admins only, and every look-up is audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authentication.permissions import IsAdmin
from dicom_api.models import Action, PatientPseudonym, Status, TransferLog
from dicom_transfer.clients import client_address
from dicom_transfer.exceptions import NotFoundError
from dicom_transfer.openapi import ErrorDetailSerializer


class PseudonymSerializer(serializers.ModelSerializer[PatientPseudonym]):
    class Meta:
        model = PatientPseudonym
        fields = [
            "pseudonym",
            "patient_id",
            "issuer_of_patient_id",
            "patient_name",
            "first_transfer",
            "created_at",
            "last_used_at",
        ]


class PseudonymView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        responses={
            200: PseudonymSerializer,
            403: OpenApiResponse(ErrorDetailSerializer, description="Not an administrator."),
            404: OpenApiResponse(ErrorDetailSerializer, description="No patient was sent under this pseudonym."),
        },
        description="The patient a pseudonym (sent to a de-identifying destination) stands for. Admins only; "
        "every look-up is written to the audit log.",
    )
    def get(self, request: Request, pseudonym: str) -> Response:
        row = PatientPseudonym.objects.filter(pseudonym=pseudonym).first()
        user = request.user
        assert isinstance(user, User)
        details: dict[str, Any] = {"pseudonym": pseudonym[:64], "found": row is not None}
        TransferLog.objects.create(
            user=user,
            username=user.get_username(),
            client_address=client_address(request),
            action=Action.PSEUDONYM_LOOKUP,
            status=Status.SUCCESS if row is not None else Status.FAILED,
            patient_id=row.patient_id if row is not None else "",
            patient_name=row.patient_name if row is not None else "",
            details=details,
        )
        if row is None:
            raise NotFoundError("No patient was sent under this pseudonym.")
        return Response(PseudonymSerializer(row).data)
