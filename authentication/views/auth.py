"""Authentication endpoints: JWT login/refresh/logout and the current user's profile."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authentication import services
from authentication.serializers import (
    LoginResponseSerializer,
    LoginSerializer,
    ProfileUpdateSerializer,
    RefreshTokenSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from authentication.sessions import session_refresh
from dicom_transfer.openapi import ErrorDetailSerializer

_THROTTLED = OpenApiResponse(
    ErrorDetailSerializer,
    description="Too many attempts for this username (or, with a much higher limit, from this address); "
    "`Retry-After` gives the seconds to wait.",
)

_PASSWORD_THROTTLED = OpenApiResponse(
    ErrorDetailSerializer,
    description="Too many wrong current passwords: they count with the sign-ins of this username (the "
    "login throttle); `Retry-After` gives the seconds to wait.",
)


class LoginView(APIView):
    """Exchange a username and password for an access and a refresh token (a new session)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=LoginSerializer, responses={200: LoginResponseSerializer, 429: _THROTTLED})
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, pair = services.login(
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
            request=request,
        )
        return Response({"access": pair.access, "refresh": pair.refresh, "user": UserSerializer(user).data})


class RefreshView(APIView):
    """Rotate a refresh token: the old one answers 401 if used again; the session's end stays where it was."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=RefreshTokenSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = RefreshTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = session_refresh(refresh=serializer.validated_data["refresh"])
        return Response({"access": pair.access, "refresh": pair.refresh})


class LogoutView(APIView):
    """End the caller's session: its refresh token and its access tokens stop working."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=RefreshTokenSerializer, responses={205: None})
    def post(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        serializer = RefreshTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.logout(user=request.user, refresh=serializer.validated_data["refresh"], request=request)
        return Response(status=status.HTTP_205_RESET_CONTENT)


class CurrentUserView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        return Response(UserSerializer(request.user).data)


class ProfileUpdateView(APIView):
    """Change one's email, names or password. A password change ends every session of the user
    (this one too: sign in again with the new password). Username and role can't be changed here.
    A wrong current password is audited and counts on the username's login throttle."""

    permission_classes = [IsAuthenticated]

    def _update(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        serializer = ProfileUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.profile_update(user=request.user, request=request, **serializer.validated_data)
        return Response(UserSerializer(user).data)

    @extend_schema(request=ProfileUpdateSerializer, responses={200: UserSerializer, 429: _PASSWORD_THROTTLED})
    def put(self, request: Request) -> Response:
        return self._update(request)

    @extend_schema(request=ProfileUpdateSerializer, responses={200: UserSerializer, 429: _PASSWORD_THROTTLED})
    def patch(self, request: Request) -> Response:
        return self._update(request)
