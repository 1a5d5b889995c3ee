from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from destinations.models import Destination, Verify
from destinations.validators import clean_ae_title, clean_host, validate_port
from dicom_api.models import ACTIVE_STATUSES, Action


def _drf(check: Callable[[Any], Any], value: Any) -> Any:
    """Run one of our validators, answering DRF's validation error (so the field is named)."""
    try:
        return check(value)
    except DjangoValidationError as e:
        raise serializers.ValidationError(e.messages) from None


class UserReferenceSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class DestinationStateSerializer(serializers.Serializer[Any]):
    reachable = serializers.BooleanField(help_text="False once a send found nothing accepting connections.")
    since = serializers.DateTimeField(
        source="unreachable_since", allow_null=True, help_text="Unreachable since then (null when reachable)."
    )
    last_error = serializers.CharField(help_text="What the last failed connection said.")


class DestinationSerializer(serializers.ModelSerializer[Destination]):
    """A DICOM node. ``created_by`` is ``{id, username}`` of the admin who created it (null once
    that account is deleted)."""

    name = serializers.CharField(max_length=100, help_text="Unique (ignoring case); surrounding spaces dropped.")
    # Spaces around an AE title are not significant (PS3.5) and are dropped; the 16-character limit
    # applies to what remains. Other whitespace (tabs, new lines) is refused, not trimmed.
    ae_title = serializers.CharField(
        max_length=64,
        trim_whitespace=False,
        help_text="DICOM AE title: 1-16 printable ASCII characters, no backslash, not only spaces, not "
        "beginning with '-', '+' or '@'. Surrounding spaces are dropped.",
    )
    host = serializers.CharField(
        max_length=255,
        trim_whitespace=False,
        help_text="Host name (RFC 1123) or IPv4/IPv6 address, not beginning with '-', '+' or '@'.",
    )
    port = serializers.IntegerField(required=False, default=104, help_text="TCP port, 1-65535.")
    created_by = UserReferenceSerializer(
        read_only=True, allow_null=True, help_text="The admin who created it; null once that account is deleted."
    )
    verify = serializers.ChoiceField(
        choices=[choice.value for choice in Verify],
        required=False,
        default=Verify.NONE.value,
        help_text="After a successful send: `none`, or `c-find` (ask the destination, at IMAGE level, "
        "whether it holds every instance).",
    )
    max_associations = serializers.IntegerField(
        required=False,
        default=1,
        min_value=1,
        help_text="Associations one transfer to it may use at once (1-TRANSFER_MAX_CONCURRENT_PER_DESTINATION, "
        "default 1): more than 1 splits a series (of at least 10 instances per association) over "
        "several, for high-latency links. Only for a destination that accepts several associations "
        "at once.",
    )
    state = DestinationStateSerializer(source="*", read_only=True, help_text="As the workers last found it.")
    active_transfers = serializers.SerializerMethodField(
        help_text="Transfers to it that are pending or sending (everyone's): deleting it fails them."
    )

    class Meta:
        model = Destination
        fields = [
            "id",
            "name",
            "ae_title",
            "host",
            "port",
            "description",
            "enabled",
            "verify",
            "max_associations",
            "state",
            "created_by",
            "created_at",
            "updated_at",
            "active_transfers",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at", "state"]

    def get_active_transfers(self, destination: Destination) -> int:
        annotated = getattr(destination, "active_transfers", None)
        if annotated is not None:
            return int(annotated)
        return destination.logs.filter(action=Action.SEND, status__in=ACTIVE_STATUSES).count()

    def validate_name(self, value: str) -> str:
        others = Destination.objects.filter(name__iexact=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError(f"A destination named {value!r} already exists.")
        return value

    def validate_ae_title(self, value: str) -> str:
        return str(_drf(clean_ae_title, value))

    def validate_host(self, value: str) -> str:
        return str(_drf(clean_host, value))

    def validate_max_associations(self, value: int) -> int:
        cap = settings.TRANSFER_MAX_CONCURRENT_PER_DESTINATION
        if not 1 <= value <= cap:
            raise serializers.ValidationError(
                f"Must be between 1 and {cap}, the simultaneous associations allowed per destination "
                "(TRANSFER_MAX_CONCURRENT_PER_DESTINATION)."
            )
        return value

    def validate_port(self, value: int) -> int:
        _drf(validate_port, value)
        return value
