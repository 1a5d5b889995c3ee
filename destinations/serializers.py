from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from destinations.dicomweb_fields import DestinationAuthSerializer, dicomweb_validate
from destinations.models import Destination, Kind, Verify
from destinations.validators import ca_fingerprints, clean_ae_title, clean_dicomweb_url, clean_host, validate_port
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
    """A DICOM node (C-STORE), or a DICOMweb service (STOW-RS). ``created_by`` is ``{id, username}``
    of the admin who created it (null once that account is deleted)."""

    name = serializers.CharField(max_length=100, help_text="Unique (ignoring case); surrounding spaces dropped.")
    # Spaces around an AE title are not significant (PS3.5) and are dropped; the 16-character limit
    # applies to what remains. Other whitespace (tabs, new lines) is refused, not trimmed.
    kind = serializers.ChoiceField(
        choices=[choice.value for choice in Kind],
        required=False,
        help_text="`dicom` (C-STORE; the default) or `dicomweb` (STOW-RS at `{url}/studies`).",
    )
    ae_title = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="DICOM AE title: 1-16 printable ASCII characters, no backslash, not only spaces, not "
        "beginning with '-', '+' or '@'. Surrounding spaces are dropped. Required for `dicom`; empty for `dicomweb`.",
    )
    host = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Host name (RFC 1123) or IPv4/IPv6 address, not beginning with '-', '+' or '@'. Required for "
        "`dicom`; for `dicomweb` the URL's host (read-only: a value other than the URL's is refused).",
    )
    port = serializers.IntegerField(
        required=False,
        help_text="TCP port, 1-65535; default 104. For `dicomweb` the URL's port (443 or 80 when it names none).",
    )
    url = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="`dicomweb` only: the DICOMweb base, e.g. `https://pacs.example.org/dicom-web` (STOW-RS at "
        "`{url}/studies`, QIDO-RS for the connection test and verification). https, or http; no user or "
        "password, query or fragment.",
    )
    auth = DestinationAuthSerializer(
        source="*",
        required=False,
        help_text="`dicomweb` only: how we sign in. The password or token is write-only; `has_secret` says "
        "whether one is stored. Omitting it on an update keeps the stored one.",
    )
    ca_certificate = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=64 * 1024,
        help_text="`dicomweb` over https only: the PEM of the CA certificate(s) to trust instead of the system's "
        "(write-only; an empty string removes it). Never a private key.",
    )
    ca_fingerprints = serializers.SerializerMethodField(
        help_text="SHA-256 fingerprints (hex) of the stored CA certificate(s); empty when the system's CAs are used."
    )
    created_by = UserReferenceSerializer(
        read_only=True, allow_null=True, help_text="The admin who created it; null once that account is deleted."
    )
    verify = serializers.ChoiceField(
        choices=[choice.value for choice in Verify],
        required=False,
        default=Verify.NONE.value,
        help_text="After a successful send: `none`, `c-find` (a `dicom` destination: ask, at IMAGE level, "
        "whether it holds every instance) or `qido-rs` (a `dicomweb` destination: the same by QIDO-RS).",
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
            "kind",
            "ae_title",
            "host",
            "port",
            "description",
            "enabled",
            "verify",
            "url",
            "auth",
            "ca_certificate",
            "ca_fingerprints",
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

    def get_ca_fingerprints(self, destination: Destination) -> list[str]:
        return ca_fingerprints(destination.ca_certificate) if destination.ca_certificate else []

    # An empty AE title or host is decided in ``validate``: required for `dicom`, empty for `dicomweb`.
    def validate_ae_title(self, value: str) -> str:
        return str(_drf(clean_ae_title, value)) if value else ""

    def validate_host(self, value: str) -> str:
        return str(_drf(clean_host, value)) if value else ""

    def validate_port(self, value: int) -> int:
        _drf(validate_port, value)
        return value

    def validate_url(self, value: str) -> str:
        return str(_drf(clean_dicomweb_url, value)) if value.strip() else ""

    def validate_ca_certificate(self, value: str) -> str:
        if value.strip():
            _drf(ca_fingerprints, value)
        return value.strip()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The fields each kind needs, and what it may not have, with every problem named by field."""
        instance = self.instance
        kind = attrs.get("kind", instance.kind if instance is not None else Kind.DICOM.value)
        if kind == Kind.DICOMWEB:
            return dicomweb_validate(attrs, instance)
        errors: dict[str, list[str]] = {}
        for name in ("ae_title", "host"):
            given = attrs.get(name)
            if given == "":
                errors[name] = ["This field may not be blank for a DICOM destination."]
            elif given is None and (instance is None or instance.is_dicomweb or not self.partial):
                errors[name] = ["This field is required for a DICOM destination."]
        for name in ("url", "ca_certificate"):
            if attrs.get(name):
                errors[name] = [f"`{name}` is for DICOMweb destinations (kind `dicomweb`)."]
        if attrs.get("auth_type", "none") != "none" or attrs.get("password") or attrs.get("token"):
            errors["auth"] = ["`auth` is for DICOMweb destinations (kind `dicomweb`)."]
        if attrs.get("verify") == Verify.QIDO_RS:
            errors["verify"] = ["`qido-rs` verifies DICOMweb destinations; a DICOM destination takes `c-find`."]
        if errors:
            raise serializers.ValidationError(errors)
        for name in ("username", "password", "token"):
            attrs.pop(name, None)
        attrs.pop("auth_username", None)
        if instance is None or instance.is_dicomweb:
            # Created as, or turned into, a DICOM destination: nothing of DICOMweb stays.
            attrs.setdefault("port", 104)
            attrs.update(url="", auth_type="none", auth_username="", auth_secret="", ca_certificate="")
        if instance is not None and instance.is_dicomweb and attrs.get("verify", instance.verify) == Verify.QIDO_RS:
            attrs["verify"] = Verify.NONE.value
        return attrs
