"""The files of a DICOM TLS destination.

The client's private key lives only in ``TLS_DIR/<destination id>/client.key`` (0600, folder
0700), unencrypted (an encrypted key is decrypted when it is uploaded: DCMTK would otherwise need
its passphrase on the command line). It is never in the database, never in an API answer (which
says ``has_client_key``), never in a log or the audit trail. The CA and client certificates are
public: they are kept in the destination's row and written next to each DCMTK run
(``tls_options``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

from destinations.models import Destination
from dicomnet.tls import Profile, TlsOptions

logger = logging.getLogger(__name__)

KEY_NAME = "client.key"


def folder_of(destination_id: int) -> Path:
    return Path(settings.TLS_DIR) / str(int(destination_id))


def key_path(destination: Destination) -> Path:
    return folder_of(destination.pk) / KEY_NAME


def has_client_key(destination: Destination) -> bool:
    return destination.pk is not None and key_path(destination).is_file()


def stored_key(destination: Destination) -> str | None:
    """The stored key's PEM (to check it against a new certificate), or None."""
    path = key_path(destination)
    return path.read_text() if destination.pk is not None and path.is_file() else None


def _private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` 0600 whatever the umask, atomically (a reader sees the old or the new)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise


def store_key(destination: Destination, pem: str) -> None:
    Path(settings.TLS_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
    _private_file(key_path(destination), pem)
    logger.info("destination %s: client key stored", destination.pk)


def remove_key(destination: Destination) -> None:
    with contextlib.suppress(FileNotFoundError):
        key_path(destination).unlink()
        logger.info("destination %s: client key removed", destination.pk)


def remove_files_of_deleted(sender: type[Destination], instance: Destination, **kwargs: Any) -> None:
    shutil.rmtree(folder_of(instance.pk), ignore_errors=True)


class MissingKeyError(RuntimeError):
    """A mutual-TLS destination whose key file is gone (DATA_DIR not shared, restored without it)."""


def tls_options(destination: Destination, *, folder: Path) -> TlsOptions | None:
    """The TLS files of one DCMTK run: the certificates written into ``folder`` (private to the
    run), the key read where it is stored. None for a plain destination."""
    if not destination.tls_profile:
        return None
    ca_file = folder / "ca-certificates.pem"
    _private_file(ca_file, destination.tls_ca_certificates)
    if not destination.tls_client_certificate:
        return TlsOptions(Profile(destination.tls_profile), ca_file.resolve())
    key = key_path(destination)
    if not key.is_file():
        raise MissingKeyError(
            f"The client key of destination {destination.name!r} is missing from this server's DATA_DIR "
            f"(tls/{destination.pk}/{KEY_NAME}): an admin must upload the client certificate and key again."
        )
    certificate_file = folder / "client-certificate.pem"
    _private_file(certificate_file, destination.tls_client_certificate)
    return TlsOptions(Profile(destination.tls_profile), ca_file.resolve(), certificate_file.resolve(), key.resolve())


def key_matches(destination: Destination, certificate_pem: str) -> str | None:
    """Why the stored key does not belong to ``certificate_pem`` (None: it does, or no key)."""
    # Imported here: workers use this module, and cryptography costs them 0.5 s at start.
    from cryptography import x509

    from dicomnet.certificates import CertificateError, check_key_matches, read_private_key

    pem = stored_key(destination)
    if pem is None:
        return "Give the private key of the client certificate (client_key)."
    try:
        check_key_matches(x509.load_pem_x509_certificates(certificate_pem.encode())[0], read_private_key(pem))
    except CertificateError as e:
        return str(e) + " (The stored key was kept; upload the key of this certificate with it.)"
    return None
