from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from pydicom.uid import UID
from rest_framework import serializers

from destinations.models import Destination, Verify
from destinations.syntaxes import policy_clean
from destinations.validators import clean_ae_title, clean_deidentification, clean_host, validate_port
from dicom_api.models import ACTIVE_STATUSES, Action
from dicom_transfer.exceptions import InvalidInputError


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


class SyntaxSerializer(serializers.Serializer[Any]):
    uid = serializers.CharField()
    name = serializers.CharField()


class AcceptedSopClassSerializer(serializers.Serializer[Any]):
    uid = serializers.CharField(help_text="Storage SOP Class UID.")
    name = serializers.CharField()
    transfer_syntaxes = SyntaxSerializer(many=True, help_text="Accepted for it, in our order of proposal; empty: none.")


class AcceptedTransferSyntaxesSerializer(serializers.Serializer[Any]):
    probed_at = serializers.DateTimeField(allow_null=True, help_text="When the last successful probe ran.")
    message = serializers.CharField(help_text="Why the last probe failed (empty when it succeeded).")
    sop_classes = AcceptedSopClassSerializer(many=True, help_text="By name.")


def _uid(value: str) -> dict[str, str]:
    name = UID(value).name
    return {"uid": value, "name": name if name and name != value else value}


def accepted_syntaxes_view(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The probe's record (``Destination.accepted_transfer_syntaxes``) as the API shows it."""
    if not record:
        return None
    classes = record.get("sop_classes", {})
    return {
        "probed_at": record.get("probed_at"),
        "message": record.get("message", ""),
        "sop_classes": sorted(
            (
                {**_uid(sop_class), "transfer_syntaxes": [_uid(syntax) for syntax in syntaxes]}
                for sop_class, syntaxes in classes.items()
            ),
            key=lambda entry: (entry["name"], entry["uid"]),
        ),
    }


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
    deidentification = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text='null (default: instances leave as they are), or {"profile": "basic", "options": [...]}: the '
        "PS3.15 Basic Application Level Confidentiality Profile applied to every instance sent here, with options "
        "among retain_longitudinal_modified_dates, retain_patient_characteristics, retain_device_identity, "
        "clean_descriptors, allow_burned_in_annotation.",
    )
    # Transfer syntaxes (issue 15; docs/transfers.md, "Transfer syntaxes").
    transfer_syntax_policy = serializers.CharField(
        required=False,
        default="as-stored",
        max_length=64,
        help_text="What instances are sent in: `as-stored` (default; an instance whose syntax the destination "
        "does not accept is still sent in one it does), `uncompressed`, or a transfer syntax UID: "
        "1.2.840.10008.1.2.1 (explicit VR little endian), 1.2.840.10008.1.2 (implicit), 1.2.840.10008.1.2.4.80 "
        "(JPEG-LS lossless), 1.2.840.10008.1.2.4.90 (JPEG 2000 lossless), 1.2.840.10008.1.2.5 (RLE lossless).",
    )
    lossy_allowed = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Whether an instance stored lossy-compressed may be converted by the policy (it is otherwise "
        "sent as stored, or decompressed when the destination does not accept its syntax).",
    )
    accepted_transfer_syntaxes = serializers.SerializerMethodField(
        help_text="What the last probe (at each connection test) found the destination accepts; null before one."
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
            "deidentification",
            "transfer_syntax_policy",
            "lossy_allowed",
            "accepted_transfer_syntaxes",
            "state",
            "created_by",
            "created_at",
            "updated_at",
            "active_transfers",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at", "state"]

    @extend_schema_field(AcceptedTransferSyntaxesSerializer(allow_null=True))
    def get_accepted_transfer_syntaxes(self, destination: Destination) -> dict[str, Any] | None:
        return accepted_syntaxes_view(destination.accepted_transfer_syntaxes)

    def validate_transfer_syntax_policy(self, value: str) -> str:
        try:
            return policy_clean(value)
        except InvalidInputError as e:
            raise serializers.ValidationError(str(e)) from None

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

    def validate_deidentification(self, value: Any) -> dict[str, Any] | None:
        return _drf(clean_deidentification, value)  # type: ignore[no-any-return]

    def validate_port(self, value: int) -> int:
        _drf(validate_port, value)
        return value
