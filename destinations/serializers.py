from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from destinations import tls as tls_files
from destinations.models import Destination, TlsProfile, Verify
from destinations.validators import clean_ae_title, clean_host, validate_port
from dicom_api.models import ACTIVE_STATUSES, Action
from dicomnet import certificates


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


_PEM_MAX = certificates.MAX_PEM_BYTES


class DestinationTlsSerializer(serializers.Serializer[Any]):
    """DICOM TLS of a destination (null: plain TCP). The client key is write-only: answers say
    ``has_client_key`` instead. Sending ``tls`` replaces it whole, except that a stored client key
    is kept when ``client_key`` is omitted and ``client_certificate`` is given again (it must match
    it); an empty ``client_certificate`` ends mutual TLS and removes the key."""

    profile = serializers.ChoiceField(
        choices=[choice.value for choice in TlsProfile],
        required=False,
        default=TlsProfile.BCP195_ND.value,
        help_text="DCMTK's BCP 195 TLS profile: `bcp195-nd` (non-downgrading, DCMTK's default), `bcp195`, "
        "`bcp195-ex` (extended).",
    )
    ca_certificates = serializers.CharField(
        trim_whitespace=False,
        max_length=_PEM_MAX,
        help_text="PEM: the CA certificate(s) the server's certificate must be issued by (or the server's "
        "own self-signed certificate).",
    )
    client_certificate = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=_PEM_MAX,
        help_text="PEM, for mutual TLS: this installation's certificate (then its chain). Empty: no client "
        "certificate.",
    )
    client_key = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        max_length=_PEM_MAX,
        help_text="PEM private key of `client_certificate`; write-only, stored 0600 under DATA_DIR, never "
        "answered. Omitted: the stored key is kept.",
    )
    client_key_passphrase = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=1024,
        help_text="Write-only: the passphrase of an encrypted `client_key`. The key is decrypted and stored "
        "unencrypted (0600): DCMTK would otherwise need the passphrase on its command line.",
    )
    has_client_key = serializers.SerializerMethodField(help_text="A client key is stored (mutual TLS).")
    warnings = serializers.SerializerMethodField(
        help_text="What the stored certificates' dates say today: expired, not yet valid, expiring within 30 days."
    )

    def get_attribute(self, instance: Destination) -> Destination:
        return instance  # the fields are the destination's tls_* columns and its key file

    def to_representation(self, instance: Any) -> Any:
        if not isinstance(instance, Destination):
            return super().to_representation(instance)
        if not instance.tls_profile:
            return None
        return {
            "profile": instance.tls_profile,
            "ca_certificates": instance.tls_ca_certificates,
            "client_certificate": instance.tls_client_certificate,
            "has_client_key": self.get_has_client_key(instance),
            "warnings": self.get_warnings(instance),
        }

    def get_has_client_key(self, instance: Destination) -> bool:
        return tls_files.has_client_key(instance)

    def get_warnings(self, instance: Destination) -> list[str]:
        return certificates.validity_warnings(
            instance.tls_ca_certificates, what="CA certificate"
        ) + certificates.validity_warnings(instance.tls_client_certificate, what="client certificate")


def _tls_problem(field: str, error: certificates.CertificateError) -> serializers.ValidationError:
    return serializers.ValidationError({field: [str(error)]})


def validated_tls(value: dict[str, Any] | None, instance: Destination | None) -> dict[str, Any]:
    """The checked TLS settings: PEMs normalised, the key decrypted (``client_key`` None: keep the
    stored one; ``""``: none). Raises DRF's ValidationError naming the field at fault."""
    if value is None:
        return {"profile": "", "ca_certificates": "", "client_certificate": "", "client_key": ""}
    try:
        ca = certificates.read_ca_certificates(value["ca_certificates"])
    except certificates.CertificateError as e:
        raise _tls_problem("ca_certificates", e) from None
    certificate_text = value.get("client_certificate", "")
    key_text, passphrase = value.get("client_key"), value.get("client_key_passphrase") or None
    checked = {"profile": value.get("profile") or TlsProfile.BCP195_ND.value, "ca_certificates": ca.pem}
    if not certificate_text.strip():
        if key_text:
            raise serializers.ValidationError({"client_certificate": ["Give the certificate of the client key."]})
        return {**checked, "client_certificate": "", "client_key": ""}
    if key_text is None:
        try:
            client = certificates.read_certificates(certificate_text, what="client certificate")
        except certificates.CertificateError as e:
            raise _tls_problem("client_certificate", e) from None
        problem = tls_files.key_matches(instance, client.pem) if instance is not None else None
        if instance is None or problem is not None:
            raise serializers.ValidationError(
                {"client_key": [problem or "Give the private key of the client certificate (client_key)."]}
            )
        return {**checked, "client_certificate": client.pem, "client_key": None}
    try:
        client = certificates.read_certificates(certificate_text, what="client certificate")
    except certificates.CertificateError as e:
        raise _tls_problem("client_certificate", e) from None
    try:
        key = certificates.read_private_key(key_text, passphrase=passphrase)
        certificates.check_key_matches(client.certificates[0], key)
    except certificates.CertificateError as e:
        raise _tls_problem("client_key", e) from None
    return {**checked, "client_certificate": client.pem, "client_key": certificates.unencrypted_pem(key)}


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
    state = DestinationStateSerializer(source="*", read_only=True, help_text="As the workers last found it.")
    tls = DestinationTlsSerializer(
        required=False,
        allow_null=True,
        help_text="DICOM TLS: null for plain TCP. Test connection (echoscu) and sends (storescu) then use TLS.",
    )
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
            "tls",
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

    def validate_tls(self, value: dict[str, Any] | None) -> dict[str, Any]:
        return validated_tls(value, self.instance if isinstance(self.instance, Destination) else None)

    def validate_port(self, value: int) -> int:
        _drf(validate_port, value)
        return value
