from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from pydicom.uid import UID
from rest_framework import serializers

from destinations import tls as tls_files
from destinations.models import Destination, TlsProfile, Verify
from destinations.syntaxes import policy_clean
from destinations.validators import clean_ae_title, clean_deidentification, clean_host, validate_port
from dicom_api.models import ACTIVE_STATUSES, Action
from dicom_transfer.exceptions import InvalidInputError
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

    def validate_tls(self, value: dict[str, Any] | None) -> dict[str, Any]:
        return validated_tls(value, self.instance if isinstance(self.instance, Destination) else None)

    def validate_deidentification(self, value: Any) -> dict[str, Any] | None:
        return _drf(clean_deidentification, value)  # type: ignore[no-any-return]

    def validate_port(self, value: int) -> int:
        _drf(validate_port, value)
        return value
