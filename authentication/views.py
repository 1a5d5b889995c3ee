"""Authentication endpoints: JWT login/refresh/logout and the current user's profile."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.models import User, update_last_login
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenRefreshView

from authentication.serializers import (
    LoginResponseSerializer,
    LoginSerializer,
    ProfileUpdateSerializer,
    RefreshTokenSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from dicom_api.audit import audit_record
from dicom_api.models import Action, Status
from dicom_transfer.openapi import ErrorDetailSerializer

logger = logging.getLogger(__name__)


class LoginView(APIView):
    """Exchange a username and password for an access and a refresh token."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=LoginSerializer,
        responses={
            200: LoginResponseSerializer,
            429: OpenApiResponse(ErrorDetailSerializer, description="Too many attempts from this client; wait."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username: str = serializer.validated_data["username"]
        user = authenticate(request, username=username, password=serializer.validated_data["password"])
        if user is None or not user.is_active:
            known = User.objects.filter(username=username).first()
            audit_record(
                action=Action.LOGIN,
                status=Status.FAILED,
                user=known,
                username=username,
                request=request,
                error_message="Wrong username or password, or the account is inactive.",
            )
            logger.info("login failed (user id %s)", known.pk if known else "unknown")
            return Response(
                {"detail": "No active account found with the given credentials."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": 'Bearer realm="api"'},
            )
        refresh = RefreshToken.for_user(user)
        update_last_login(User, user)
        audit_record(action=Action.LOGIN, status=Status.SUCCESS, user=user, request=request)
        logger.info("login succeeded (user id %s)", user.pk)
        return Response(
            {"access": str(refresh.access_token), "refresh": str(refresh), "user": UserSerializer(user).data}
        )


class RefreshView(TokenRefreshView):
    """Rotate a refresh token: the old one is blacklisted and answers 401 if used again."""

    @extend_schema(request=RefreshTokenSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    """Blacklist the caller's refresh token."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=RefreshTokenSerializer, responses={205: None})
    def post(self, request: Request) -> Response:
        serializer = RefreshTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            token = RefreshToken(serializer.validated_data["refresh"])  # type: ignore[arg-type]
        except TokenError as e:
            raise ValidationError({"refresh": [str(e)]}) from None
        if str(token.get("user_id")) != str(request.user.pk):
            raise ValidationError({"refresh": ["This refresh token belongs to another user."]})
        token.blacklist()
        audit_record(action=Action.LOGOUT, status=Status.SUCCESS, user=request.user, request=request)
        logger.info("logout (user id %s)", request.user.pk)
        return Response(status=status.HTTP_205_RESET_CONTENT)


class CurrentUserView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        return Response(UserSerializer(request.user).data)


class ProfileUpdateView(APIView):
    """Change one's email, names or password. Username and privileges can't be changed here."""

    permission_classes = [IsAuthenticated]

    def _update(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        serializer = ProfileUpdateSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = serializer.save()
        if "new_password" in serializer.validated_data:
            logger.info("password changed (user id %s)", user.pk)
        return Response(UserSerializer(user).data)

    @extend_schema(request=ProfileUpdateSerializer, responses={200: UserSerializer})
    def put(self, request: Request) -> Response:
        return self._update(request)

    @extend_schema(request=ProfileUpdateSerializer, responses={200: UserSerializer})
    def patch(self, request: Request) -> Response:
        return self._update(request)
