"""PEM certificates and keys of a DICOM TLS destination, checked before they are stored.

Plain functions on PEM text with the ``cryptography`` package, raising ``CertificateError`` (a
``ValueError``) with a sentence a person can act on: not a certificate, not a private key, a key
that does not belong to the certificate, a certificate that has expired. A certificate that is not
valid *yet*, or expires within ``EXPIRY_WARNING``, is accepted with a warning (``warnings``).

A private key may arrive encrypted with a passphrase: it is decrypted here and kept unencrypted
(DCMTK would otherwise need the passphrase on its command line, where every user of the machine
can read it); the caller stores it 0600.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

EXPIRY_WARNING = datetime.timedelta(days=30)
MAX_PEM_BYTES = 256 * 1024
_BEGIN_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


class CertificateError(ValueError):
    """PEM text that can't be used as asked; the message is for a person."""


@dataclass(frozen=True)
class Certificates:
    """Certificates read from one PEM text, normalised (each PEM block re-encoded), with warnings."""

    pem: str
    certificates: list[x509.Certificate]
    warnings: list[str] = field(default_factory=list)


def describe(certificate: x509.Certificate) -> str:
    """``CN=..., O=...`` of the subject, for messages."""
    return certificate.subject.rfc4514_string() or "(no subject)"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _check_text(text: str, what: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise CertificateError(f"The {what} is empty.")
    if len(text.encode()) > MAX_PEM_BYTES:
        raise CertificateError(f"The {what} is larger than {MAX_PEM_BYTES // 1024} KiB: not a PEM file.")


def read_certificates(text: str, *, what: str, now: datetime.datetime | None = None) -> Certificates:
    """Every certificate of PEM ``text`` (one or more ``BEGIN CERTIFICATE`` blocks).

    Raises ``CertificateError`` when there is none, a block does not parse, or a certificate has
    expired; warns about a certificate not valid yet or expiring within ``EXPIRY_WARNING``.
    """
    _check_text(text, what)
    if _BEGIN_CERTIFICATE not in text:
        if "PRIVATE KEY-----" in text:
            raise CertificateError(f"The {what} is a private key, not a certificate.")
        raise CertificateError(f"The {what} is not a PEM certificate (no '{_BEGIN_CERTIFICATE}' line).")
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise CertificateError(f"The {what} could not be read: a PEM certificate block is damaged.") from None
    now = now or _now()
    warnings = []
    for certificate in certificates:
        name = describe(certificate)
        if certificate.not_valid_after_utc < now:
            raise CertificateError(
                f"The {what} {name} expired on {certificate.not_valid_after_utc:%Y-%m-%d}: use a renewed certificate."
            )
        if certificate.not_valid_before_utc > now:
            warnings.append(
                f"The {what} {name} is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC."
            )
        elif certificate.not_valid_after_utc - now < EXPIRY_WARNING:
            warnings.append(f"The {what} {name} expires on {certificate.not_valid_after_utc:%Y-%m-%d}.")
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)
    return Certificates(pem, certificates, warnings)


def read_ca_certificates(text: str, *, now: datetime.datetime | None = None) -> Certificates:
    """The CA certificates to trust. A certificate that is no CA (basicConstraints without ``CA``)
    is accepted with a warning: a server's own self-signed certificate is trusted that way too."""
    found = read_certificates(text, what="CA certificate", now=now)
    warnings = list(found.warnings)
    for certificate in found.certificates:
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            continue
        if not constraints.ca:
            warnings.append(
                f"The CA certificate {describe(certificate)} is no CA certificate (basicConstraints CA:FALSE); "
                "only a server presenting exactly this certificate will be trusted."
            )
    return Certificates(found.pem, found.certificates, warnings)


PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | dsa.DSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


def unencrypted_pem(key: PrivateKey) -> str:
    """The key as unencrypted PKCS#8 PEM (the form stored 0600 for DCMTK)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def read_private_key(text: str, *, passphrase: str | None = None) -> PrivateKey:
    _check_text(text, "client key")
    if "PRIVATE KEY-----" not in text:
        if _BEGIN_CERTIFICATE in text:
            raise CertificateError("The client key is a certificate, not a private key.")
        raise CertificateError("The client key is not a PEM private key (no 'BEGIN ... PRIVATE KEY' line).")
    try:
        key = serialization.load_pem_private_key(text.encode(), password=passphrase.encode() if passphrase else None)
    except TypeError:
        if passphrase:
            raise CertificateError("The client key is not encrypted: leave the passphrase empty.") from None
        raise CertificateError("The client key is encrypted: give its passphrase.") from None
    except ValueError:
        if passphrase:
            raise CertificateError("The client key could not be decrypted: is the passphrase right?") from None
        raise CertificateError("The client key could not be read: not a PEM private key, or damaged.") from None
    except Exception:  # cryptography raises UnsupportedAlgorithm for unknown key types
        raise CertificateError("The client key is of a kind that is not supported.") from None
    if not isinstance(key, PrivateKey):
        raise CertificateError("The client key is of a kind that is not supported.")
    return key


def check_key_matches(certificate: x509.Certificate, key: PrivateKey) -> None:
    def public(value: object) -> bytes:
        return value.public_bytes(  # type: ignore[attr-defined, no-any-return]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    if public(certificate.public_key()) != public(key.public_key()):
        raise CertificateError(
            f"The client key does not belong to the client certificate {describe(certificate)}: "
            "upload the key that was made with this certificate."
        )


def validity_warnings(text: str, *, what: str, now: datetime.datetime | None = None) -> list[str]:
    """What a stored PEM's certificates say about their dates today (expired ones included)."""
    try:
        certificates = x509.load_pem_x509_certificates(text.encode()) if text.strip() else []
    except ValueError:
        return [f"The {what} can no longer be read."]
    now = now or _now()
    found = []
    for certificate in certificates:
        name, until = describe(certificate), certificate.not_valid_after_utc
        if until < now:
            found.append(f"The {what} {name} expired on {until:%Y-%m-%d}.")
        elif certificate.not_valid_before_utc > now:
            since = certificate.not_valid_before_utc
            found.append(f"The {what} {name} is not valid before {since:%Y-%m-%d %H:%M} UTC.")
        elif until - now < EXPIRY_WARNING:
            found.append(f"The {what} {name} expires on {until:%Y-%m-%d}.")
    return found
