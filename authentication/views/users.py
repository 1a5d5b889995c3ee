"""``/api/auth/users/``: admins list, create, change and deactivate users and reset passwords."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from authentication import services
from authentication.permissions import IsAdmin
from authentication.serializers import (
    AccountCreateSerializer,
    AccountSerializer,
    AccountUpdateSerializer,
    PasswordResetSerializer,
)
from dicom_transfer.converters import IdConverter


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[User]):
    """Users, for admins. Deactivate rather than delete: the audit trail keeps naming them."""

    # Ids a database column can hold; a larger number matches no URL (404), never a 500.
    lookup_value_regex = IdConverter.regex
    serializer_class = AccountSerializer
    permission_classes = [IsAdmin]
    pagination_class = None
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[User]:
        return User.objects.select_related("account").order_by("username")

    def _actor(self) -> User:
        assert isinstance(self.request.user, User)
        return self.request.user

    @extend_schema(request=AccountCreateSerializer, responses={201: AccountSerializer})
    def create(self, request: Request) -> Response:
        serializer = AccountCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_create(actor=self._actor(), request=request, **serializer.validated_data)
        return Response(AccountSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=AccountUpdateSerializer,
        responses={
            200: AccountSerializer,
            409: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="An admin can't deactivate or demote themselves, nor the last active admin.",
            ),
        },
    )
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        target = self.get_object()
        serializer = AccountUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(actor=self._actor(), request=request, user=target, **serializer.validated_data)
        return Response(AccountSerializer(self.get_queryset().get(pk=user.pk)).data)

    @extend_schema(
        request=PasswordResetSerializer,
        responses={
            200: AccountSerializer,
            409: OpenApiResponse(
                OpenApiTypes.OBJECT, description="A directory user: their password is the directory's."
            ),
        },
        description="Set a temporary password. The user's sessions end, and they must choose their own "
        "password at the next sign-in.",
    )
    @action(detail=True, methods=["post"])
    def reset_password(self, request: Request, pk: Any = None) -> Response:
        target = self.get_object()
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_reset_password(
            actor=self._actor(), request=request, user=target, password=serializer.validated_data["password"]
        )
        return Response(AccountSerializer(self.get_queryset().get(pk=user.pk)).data)
