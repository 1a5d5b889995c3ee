from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from authentication.models import Role
from authentication.roles import must_change_password, role_of


def _password(*, required: bool = True, help_text: str = "") -> serializers.CharField:
    return serializers.CharField(
        required=required,
        write_only=True,
        trim_whitespace=False,
        max_length=4096,
        style={"input_type": "password"},
        help_text=help_text or None,
    )


class _RoleMixin(serializers.Serializer[Any]):
    role = serializers.SerializerMethodField(help_text="operator, admin or auditor.")

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices))
    def get_role(self, user: User) -> str:
        role = role_of(user)
        return role.value if role else Role.OPERATOR.value


class UserSerializer(_RoleMixin, serializers.ModelSerializer[User]):
    """The signed-in user. ``is_staff`` is true for admins (``role`` says it too)."""

    # Not an EmailField in the schema: an account may have no address ("").
    email = serializers.CharField(read_only=True, help_text="Email address; empty when none is set.")
    must_change_password = serializers.SerializerMethodField(
        help_text="True after an admin created the account or reset its password: until a new password is "
        "chosen, every other call answers 403."
    )

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "is_staff", "role", "must_change_password"]
        read_only_fields = fields

    def get_must_change_password(self, user: User) -> bool:
        return must_change_password(user)


class LoginSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer[Any]):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LoginResponseSerializer(TokenPairSerializer):
    user = UserSerializer()


class RefreshTokenSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField(max_length=4096)


class ProfileUpdateSerializer(serializers.Serializer[Any]):
    """Profile fields a user may change; username and privileges can't be changed here."""

    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    current_password = _password(required=False)
    new_password = _password(required=False)


class AccountSerializer(_RoleMixin, serializers.ModelSerializer[User]):
    """A user as admins manage it."""

    email = serializers.CharField(read_only=True, help_text="Email address; empty when none is set.")
    must_change_password = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "role",
            "is_active",
            "last_login",
            "must_change_password",
        ]
        read_only_fields = fields

    def get_must_change_password(self, user: User) -> bool:
        return must_change_password(user)


class AccountCreateSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = _password()
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254, default="")
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150, default="")
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150, default="")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.OPERATOR)


class AccountUpdateSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)


class PasswordResetSerializer(serializers.Serializer[Any]):
    password = _password(help_text="A temporary password; the user must choose their own at the next sign-in.")
