from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from rest_framework import serializers


class UserSerializer(serializers.ModelSerializer[User]):
    # Not an EmailField in the schema: an account may have no address ("").
    email = serializers.CharField(read_only=True, help_text="Email address; empty when none is set.")

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "is_staff"]
        read_only_fields = fields


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


class ProfileUpdateSerializer(serializers.ModelSerializer[User]):
    """Profile fields a user may change; username and privileges are read-only here."""

    current_password = serializers.CharField(
        write_only=True, required=False, trim_whitespace=False, max_length=4096, style={"input_type": "password"}
    )
    new_password = serializers.CharField(
        write_only=True, required=False, trim_whitespace=False, max_length=4096, style={"input_type": "password"}
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_staff",
            "current_password",
            "new_password",
        ]
        read_only_fields = ["id", "username", "is_staff"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        new_password = attrs.get("new_password")
        current_password = attrs.get("current_password")
        if new_password is None and current_password is not None:
            raise serializers.ValidationError({"new_password": ["Give the new password too."]})
        if new_password is not None:
            user = self.instance
            assert user is not None
            if not current_password:
                raise serializers.ValidationError({"current_password": ["The current password is required."]})
            if not user.check_password(current_password):
                raise serializers.ValidationError({"current_password": ["The current password is wrong."]})
            try:
                password_validation.validate_password(new_password, user)
            except Exception as e:  # django.core.exceptions.ValidationError
                messages = getattr(e, "messages", [str(e)])
                raise serializers.ValidationError({"new_password": list(messages)}) from None
        return attrs

    def update(self, instance: User, validated_data: dict[str, Any]) -> User:
        validated_data.pop("current_password", None)
        new_password = validated_data.pop("new_password", None)
        for field in ("email", "first_name", "last_name"):
            if field in validated_data:
                setattr(instance, field, validated_data[field])
        if new_password is not None:
            instance.set_password(new_password)
        instance.save()
        return instance
