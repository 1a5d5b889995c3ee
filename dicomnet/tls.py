"""DICOM TLS (PS3.15 Annex B, BCP 195) with DCMTK's ``+tls`` options, and what we check ourselves.

What DCMTK 3.6.7 verifies (measured with ``echoscu``/``storescu`` against ``storescp +tls``, see
docs/transfers.md, "DICOM TLS"): the server's certificate chain against the CA certificates we
give (``+cf``) and its validity dates. It does **not** compare the host name with the
certificate: a certificate issued by a trusted CA for ``other.example`` is accepted at
``127.0.0.1``. And whatever went wrong, it says only ``TLS error: certificate verify failed``.

So before every DCMTK run over TLS, ``check_server`` makes one TLS handshake with Python's
``ssl`` (OpenSSL) against the same CA certificates *and* the host name, and answers which
problem the server's certificate has (expired, not yet valid, from another CA, self-signed,
issued for another name), in words a person can act on; ``None`` when it verifies. It is a
check made just before DCMTK connects, not DCMTK's own: the encrypted association itself is
DCMTK's, verified by DCMTK against the same CA certificates.
"""

from __future__ import annotations

import enum
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path


class Profile(enum.StrEnum):
    """DCMTK 3.6.7's BCP 195 profiles (``storescu --help``, "security profile")."""

    BCP195_ND = "bcp195-nd"  # Non-downgrading BCP 195: DCMTK's default
    BCP195 = "bcp195"
    BCP195_EX = "bcp195-ex"  # Extended BCP 195

    @property
    def option(self) -> str:
        return f"--profile-{self.value}"


@dataclass(frozen=True)
class TlsOptions:
    """The files of one TLS association: absolute paths of our own making (never user values)."""

    profile: Profile
    ca_file: Path
    certificate_file: Path | None = None  # with key_file: mutual TLS
    key_file: Path | None = None

    def __post_init__(self) -> None:
        for path in (self.ca_file, self.certificate_file, self.key_file):
            if path is not None and not path.is_absolute():
                raise ValueError("TLS files are given as absolute paths")
        if (self.certificate_file is None) != (self.key_file is None):
            raise ValueError("a client certificate goes with its key")

    @property
    def mutual(self) -> bool:
        return self.key_file is not None

    def options(self) -> list[str]:
        """DCMTK's TLS options: the peer's certificate required and verified against ``ca_file``;
        our certificate and key (unencrypted PEM: ``--null-passwd``, nothing read from stdin), or
        none (``--anonymous-tls``: TLS without a client certificate)."""
        identity = (
            ["--enable-tls", str(self.key_file), str(self.certificate_file), "--null-passwd"]
            if self.mutual
            else ["--anonymous-tls"]
        )
        return [
            *identity,
            "--pem-keys",
            "--add-cert-file",
            str(self.ca_file),
            self.profile.option,
            "--require-peer-cert",
        ]


class CertificateProblem(enum.StrEnum):
    UNTRUSTED = "untrusted"  # not issued by a CA we trust (or self-signed)
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NAME_MISMATCH = "name_mismatch"
    CLIENT_CERTIFICATE_REQUIRED = "client_certificate_required"
    CLIENT_CERTIFICATE_REFUSED = "client_certificate_refused"
    NOT_TLS = "not_tls"  # the peer does not speak TLS on that port
    OTHER = "other"


@dataclass(frozen=True)
class TlsFailure:
    problem: CertificateProblem
    message: str  # for a person: what is wrong and what to do


# OpenSSL's X509_V_ERR_* codes (x509_vfy.h).
_UNTRUSTED_CODES = {2, 18, 19, 20, 21, 27, 28}
_EXPIRED, _NOT_YET_VALID, _HOSTNAME_MISMATCH, _IP_MISMATCH = 10, 9, 62, 64
# How long to wait, after a TLS 1.3 handshake, for the alert of a server that refuses our client
# certificate (or its absence); storescp's comes within milliseconds on loopback, one round trip
# on a WAN. A server that is content says nothing (it waits for our A-ASSOCIATE-RQ).
_ALERT_WAIT = 0.3


def _context(tls: TlsOptions, *, host_name_checked: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = host_name_checked
    context.verify_mode = ssl.CERT_REQUIRED
    # OpenSSL's own default list, not Python's narrower one (no RSA key exchange, no SHA-1 MACs):
    # the check must get through any handshake DCMTK's profile would (``--profile-bcp195`` offers
    # TLS_RSA_WITH_AES_128_CBC_SHA), else it refuses a server DCMTK talks to, and calls the
    # resulting "handshake failure" a missing client certificate. Which suites are used is DCMTK's
    # choice; this handshake carries no data.
    context.set_ciphers("DEFAULT")
    context.load_verify_locations(cafile=str(tls.ca_file))
    if tls.mutual:
        context.load_cert_chain(certfile=str(tls.certificate_file), keyfile=str(tls.key_file))
    return context


def client_context(tls: TlsOptions) -> ssl.SSLContext:
    """The context of a TLS association made with Python (the storage probe, pynetdicom): the same
    CA certificates, client certificate and host-name check as ``check_server``. Raises
    ``ssl.SSLError`` or ``OSError`` for files that cannot be loaded."""
    return _context(tls, host_name_checked=True)


def check_server(*, host: str, port: int, tls: TlsOptions, timeout: float) -> TlsFailure | None:
    """One TLS handshake with ``host:port`` that verifies the server's certificate against our CA
    certificates and ``host``; None when it verifies, or when the connection itself fails (DCMTK
    then reports that failure in its own words, and we read them as for plain DICOM)."""
    where = f"{host}:{port}"
    try:
        context = _context(tls, host_name_checked=True)
    except (ssl.SSLError, OSError) as e:
        return TlsFailure(CertificateProblem.OTHER, f"This server's TLS files could not be loaded ({e}).")
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as conn,
        ):
            # TLS 1.3: a server that wants a client certificate says so after the handshake.
            conn.settimeout(min(timeout, _ALERT_WAIT))
            try:
                conn.recv(1)
            except TimeoutError:
                pass
            except ssl.SSLError as e:
                return _handshake_failure(e, tls, where)
    except ssl.SSLCertVerificationError as e:
        return _verify_failure(e, host, where)
    except ssl.SSLError as e:
        return _handshake_failure(e, tls, where)
    except OSError:
        return None  # refused, unreachable, timeout: DCMTK will say so
    return None


def _verify_failure(e: ssl.SSLCertVerificationError, host: str, where: str) -> TlsFailure:
    code, said = e.verify_code, e.verify_message
    if code == _EXPIRED:
        return TlsFailure(
            CertificateProblem.EXPIRED,
            f"The TLS certificate of the server at {where} has expired: its administrator must renew it "
            "(or the clock of one of the two machines is wrong).",
        )
    if code == _NOT_YET_VALID:
        return TlsFailure(
            CertificateProblem.NOT_YET_VALID,
            f"The TLS certificate of the server at {where} is not valid yet: check the clocks of both machines.",
        )
    if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
        return TlsFailure(
            CertificateProblem.NAME_MISMATCH,
            f"The TLS certificate of the server at {where} was not issued for {host!r} ({said}): give the "
            "destination the host name its certificate names, or have the certificate reissued for this name.",
        )
    if code in _UNTRUSTED_CODES:
        return TlsFailure(
            CertificateProblem.UNTRUSTED,
            f"The TLS certificate of the server at {where} is not signed by any of the destination's CA "
            f"certificates ({said}): add the certificate of the CA that issued it, or check that this is "
            "the right server.",
        )
    return TlsFailure(
        CertificateProblem.OTHER, f"The TLS certificate of the server at {where} does not verify ({said})."
    )


def _handshake_failure(e: ssl.SSLError, tls: TlsOptions, where: str) -> TlsFailure | None:
    reason = (e.reason or str(e)).lower().replace("_", " ")
    if "certificate required" in reason or (not tls.mutual and "handshake failure" in reason):
        return TlsFailure(
            CertificateProblem.CLIENT_CERTIFICATE_REQUIRED,
            f"The server at {where} requires a client certificate (mutual TLS): upload this installation's "
            "client certificate and key for the destination.",
        )
    if tls.mutual and any(word in reason for word in ("unknown ca", "bad certificate", "certificate unknown")):
        return TlsFailure(
            CertificateProblem.CLIENT_CERTIFICATE_REFUSED,
            f"The server at {where} does not accept this installation's client certificate ({e.reason}): "
            "its administrator must trust the CA that issued it.",
        )
    if any(word in reason for word in ("wrong version number", "record layer failure", "packet length too long")):
        return TlsFailure(
            CertificateProblem.NOT_TLS,
            f"The peer at {where} does not speak TLS on that port: check the port, or turn TLS off for "
            "this destination.",
        )
    return None  # let DCMTK try, and say what it finds


def dcmtk_tls_failure(output: str, *, tls: TlsOptions, where: str) -> TlsFailure | None:
    """DCMTK's words for a TLS failure (``TLS error: ...``) as a message; None when it is none."""
    lowered = output.lower()
    if "tls error" not in lowered:
        return None
    if "certificate verify failed" in lowered:
        return TlsFailure(
            CertificateProblem.UNTRUSTED,
            f"The TLS certificate of the server at {where} does not verify against the destination's CA "
            "certificates (DCMTK: certificate verify failed): check that they include the CA that issued it "
            "and that it has not expired.",
        )
    detail = next((line[3:] for line in output.splitlines() if "TLS error" in line), "TLS error")
    return TlsFailure(CertificateProblem.OTHER, f"The TLS connection to {where} failed ({detail}).")
