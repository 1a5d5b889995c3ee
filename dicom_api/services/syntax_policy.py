"""What an instance is sent in: a destination's transfer-syntax policy, what its last probe found
it accepts, and the probe itself (on "Test connection", and by a sending worker that meets a SOP
class the record does not cover; over DICOM TLS for a TLS destination).

``choice_for`` is the rule (docs/transfers.md, "Transfer syntaxes"):

- ``as-stored``: the stored syntax, unless the probe found the destination does not accept it
  for that SOP class; then the first it accepts of explicit VR LE, implicit VR LE, JPEG 2000
  lossless, JPEG-LS lossless, RLE.
- ``uncompressed``: explicit VR little endian (implicit when only that is accepted) for a
  compressed instance; an uncompressed one goes as it is (DCMTK converts between those).
- a transfer syntax UID: that syntax, when the destination accepts it (or was not probed).
- An instance stored lossy (JPEG baseline, JPEG 2000, JPEG-LS near-lossless) is converted by
  the policy only with ``lossy_allowed``; otherwise only when the destination does not accept
  its syntax (decompressed then: no further loss).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from destinations import tls as tls_files
from destinations.models import Destination
from destinations.syntaxes import AS_STORED
from destinations.syntaxes import UNCOMPRESSED as UNCOMPRESSED_POLICY
from dicom_api.models import DicomInstance, ImportSession
from dicomnet import probe
from dicomnet.association import AssociationRequest
from dicomnet.transcode import LOSSY, UNCOMPRESSED

logger = logging.getLogger(__name__)

EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
# When the stored syntax is not accepted: what a copy is made in, in this order of preference.
FALLBACKS = (EXPLICIT_LE, IMPLICIT_LE, "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.5")
# DCMTK converts between these itself.
_NATIVE = frozenset(str(uid) for uid in UNCOMPRESSED) - {"1.2.840.10008.1.2.1.99"}


@dataclass(frozen=True)
class Choice:
    syntax: str | None  # the syntax of the copy to send; None: send the stored file
    required: bool = False  # the destination does not accept the stored syntax: no copy, no send


def _accepts(accepted: dict[str, list[str]] | None, sop_class: str, syntax: str, *, exact: bool = False) -> bool | None:
    """Whether the probe found ``syntax`` accepted for ``sop_class`` (None: not known); an
    uncompressed one is, unless ``exact``, when any uncompressed one is (dcmsend converts)."""
    if not accepted or sop_class not in accepted:
        return None
    syntaxes = accepted[sop_class]
    if syntax in _NATIVE and not exact:
        return any(s in _NATIVE for s in syntaxes)
    return syntax in syntaxes


def choice_for(
    *, stored: str, sop_class: str, policy: str, lossy_allowed: bool, accepted: dict[str, list[str]] | None
) -> Choice:
    stored_ok = _accepts(accepted, sop_class, stored) is not False
    wanted: str | None = None
    if policy == UNCOMPRESSED_POLICY and stored not in _NATIVE:
        exact = _accepts(accepted, sop_class, EXPLICIT_LE, exact=True) is not False
        wanted = EXPLICIT_LE if exact or not _accepts(accepted, sop_class, IMPLICIT_LE, exact=True) else IMPLICIT_LE
    elif policy not in (AS_STORED, UNCOMPRESSED_POLICY) and policy != stored:
        wanted = policy if _accepts(accepted, sop_class, policy) is not False else None
    if wanted is not None and stored in LOSSY and not lossy_allowed:
        wanted = None  # never re-encode a lossy instance without the flag
    if wanted is not None:
        return Choice(wanted, required=not stored_ok)
    if stored_ok:
        return Choice(None)
    for syntax in FALLBACKS:
        if _accepts(accepted, sop_class, syntax, exact=True):
            return Choice(syntax, required=True)
    return Choice(None)  # it accepts nothing we can write: dcmsend will say so


def needs_probe(destination: Destination, pairs: set[tuple[str, str]]) -> bool:
    """Whether sending these (SOP class, stored syntax) pairs needs to know what the destination
    accepts and its record does not say: never for uncompressed instances sent as stored, nor for
    a DICOMweb destination (STOW-RS negotiates nothing: a server refuses a syntax per instance)."""
    if destination.is_dicomweb:
        return False
    if destination.transfer_syntax_policy == AS_STORED and all(syntax in _NATIVE for _, syntax in pairs):
        return False
    known = (destination.accepted_transfer_syntaxes or {}).get("sop_classes", {})
    return any(sop_class not in known for sop_class, _ in pairs)


def held_sop_classes(limit: int = 200) -> list[str]:
    """The SOP classes of the instances currently imported (a probe proposes them too)."""
    live = ImportSession.objects.filter(expires_at__gt=timezone.now())
    return list(
        DicomInstance.objects.filter(import_session__in=live)
        .exclude(sop_class_uid="")
        .order_by()
        .values_list("sop_class_uid", flat=True)
        .distinct()[:limit]
    )


def _probe(destination: Destination, request: AssociationRequest, classes: list[str]) -> probe.ProbeResult:
    """The probe, over DICOM TLS for a TLS destination: its certificates written to a private
    folder under DATA_DIR/tmp for the time of the probe (the key is read where it is kept)."""
    if not destination.tls_profile:
        return probe.probe_storage(request, sop_classes=classes)
    with tempfile.TemporaryDirectory(prefix="tls-probe-", dir=settings.FILE_UPLOAD_TEMP_DIR) as folder:
        try:
            options = tls_files.tls_options(destination, folder=Path(folder))
        except tls_files.MissingKeyError as e:
            return probe.ProbeResult(False, message=str(e))
        return probe.probe_storage(request, sop_classes=classes, tls=options)


def destination_probe(
    *, destination: Destination, sop_classes: list[str] | None = None, quick: bool = False
) -> dict[str, Any]:
    """Ask the destination which syntaxes it accepts and record it on the destination: for
    ``sop_classes`` (merged into the record) or, by default, the common storage classes and those
    held. ``quick``: short timeouts, for a sending worker (no heartbeat meanwhile). Returns the
    record."""
    from dicom_api.services.connection import destination_association

    request = destination_association(destination)
    if quick:
        limit = max(1.0, min(settings.DICOM_ACSE_TIMEOUT, settings.TRANSFER_STALE_AFTER / 4))
        request = type(request)(
            request.called_ae,
            request.host,
            request.port,
            request.calling_ae,
            min(request.connect_timeout, limit),
            limit,
            limit,
        )
    classes = sop_classes if sop_classes is not None else [*probe.COMMON_SOP_CLASSES, *held_sop_classes()]
    result = _probe(destination, request, classes)
    with transaction.atomic():
        row = Destination.objects.select_for_update().get(pk=destination.pk)
        record = dict(row.accepted_transfer_syntaxes or {})
        record.pop("probing_since", None)  # a periodic probe's claim (``destinations_reprobe``)
        if result.reached:
            known = dict(record.get("sop_classes", {})) if sop_classes is not None else {}
            known.update(result.accepted)
            record = {"probed_at": timezone.now().isoformat(), "sop_classes": known, "message": ""}
        else:
            record = {**record, "message": result.message, "failed_at": timezone.now().isoformat()}
        row.accepted_transfer_syntaxes = record
        row.save(update_fields=["accepted_transfer_syntaxes"])
    destination.accepted_transfer_syntaxes = record
    return record


# A claim on a periodic probe older than this is given up (its worker died mid-probe).
_PROBE_CLAIM_EXPIRES = 600.0


def destinations_reprobe() -> int:
    """Housekeeping: probe again every enabled, reachable DICOM destination whose record is older
    than ``DESTINATION_PROBE_INTERVAL`` (a PACS's configuration changes; what the record says
    decides what is sent). A destination never probed, or whose last probe failed within the
    interval, is left to its next "Test connection" or send. Several workers run this at once: each
    destination's record is claimed first (an update that succeeds only if the record is still
    the one read), and only the winner probes. Returns how many were probed."""
    interval = settings.DESTINATION_PROBE_INTERVAL
    if interval <= 0:
        return 0
    now = timezone.now()
    probed = 0
    candidates = Destination.objects.filter(enabled=True, reachable=True).exclude(kind="dicomweb")
    for destination in candidates.exclude(accepted_transfer_syntaxes=None):
        record = destination.accepted_transfer_syntaxes or {}
        if not _due(record, now, interval):
            continue
        claim = {**record, "probing_since": now.isoformat()}
        won = Destination.objects.filter(pk=destination.pk, accepted_transfer_syntaxes=record).update(
            accepted_transfer_syntaxes=claim
        )
        if not won:
            continue  # another worker took it, or someone changed the destination meanwhile
        destination.accepted_transfer_syntaxes = claim
        try:
            destination_probe(destination=destination, quick=True)
        except (ValueError, OSError) as e:  # an invalid address: its sends say so
            logger.info("destination %s: periodic probe not made (%s)", destination.pk, type(e).__name__)
            Destination.objects.filter(pk=destination.pk, accepted_transfer_syntaxes=claim).update(
                accepted_transfer_syntaxes={**record, "failed_at": now.isoformat()}
            )
            continue
        probed += 1
    return probed


def _due(record: dict[str, Any], now: Any, interval: float) -> bool:
    def age(key: str) -> float | None:
        value = record.get(key)
        try:
            return (now - datetime.fromisoformat(value)).total_seconds() if isinstance(value, str) else None
        except ValueError:
            return None

    claimed = age("probing_since")
    if claimed is not None and claimed < _PROBE_CLAIM_EXPIRES:
        return False
    probed, failed = age("probed_at"), age("failed_at")
    if probed is None:
        return False  # never probed successfully: Test connection or a send does it
    if failed is not None and failed < interval:
        return False
    return probed >= interval
