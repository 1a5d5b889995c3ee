"""Imports built in batches: open one, add batches of files (each all or nothing), complete it.

A client with a large folder (a disc of thousands of files) opens an import (``import_open``),
uploads it in batches of a few hundred files (``import_add_files``), and completes it
(``import_complete``); only a complete import can be sent. Every file a batch brought is recorded
by the client's relative path and size (``ImportFile``), so a client that lost its connection or
was reloaded reads that manifest and sends only what is missing.

A batch is atomic: its files are read and moved into the import's directory, then its rows are
written in one transaction under the import's row lock; if anything fails on the way (a ZIP bomb,
a full disk, the import completed or deleted meanwhile) the files it moved are removed and the
import is left exactly as it was. A batch whose request body ended early never reaches this
module (``dicom_api.uploads.CountedBody``).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from dicom_api.audit import audit_record
from dicom_api.models import Action, DicomInstance, ImportFile, ImportSession, ImportState, Status
from dicom_api.services.imports import (
    DUPLICATES_LISTED,
    NothingImportable,
    Staging,
    Upload,
    instance_rows,
    stage_uploads,
)
from dicom_api.uploads import client_path
from dicom_transfer.exceptions import ConflictError, NotFoundError

logger = logging.getLogger(__name__)

_BATCH = 1000
_PATIENTS_LISTED = 100


class ImportComplete(ConflictError):
    """Files can't be added to an import that is complete (409)."""

    def __init__(self) -> None:
        super().__init__("This import is complete: files can't be added to it. Start a new import.")


class ImportStillOpen(ConflictError):
    """An open import can't be sent (409)."""

    def __init__(self) -> None:
        super().__init__("This import is still being uploaded: complete it (or resume its upload) before sending.")


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch added: files read, new instances, duplicates, and its per-file errors."""

    received_files: int
    received_bytes: int
    instance_count: int
    duplicate_count: int
    duplicates: list[dict[str, str]]
    errors: list[dict[str, str]]


def _expiry() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=settings.IMPORT_TTL)


def import_open(*, owner: User) -> ImportSession:
    """A new, empty, open import of ``owner``; it expires IMPORT_TTL after its last batch."""
    session = ImportSession.objects.create(owner=owner, expires_at=_expiry(), state=ImportState.OPEN)
    session.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    logger.info("import %s opened by user %s", session.pk, owner.pk)
    return session


def import_add_files(*, import_session: ImportSession, uploads: list[Upload]) -> BatchOutcome:
    """Add one batch of uploaded files and archives to an open import, all or nothing.

    Raises ``ImportComplete`` (409) if the import is complete, ``NotFoundError`` if it was
    deleted meanwhile, and whatever ``import_create`` raises for a refused upload (413, 507);
    the import is then as it was. A batch with no DICOM at all is not an error: its files are
    recorded (so a resumed upload does not send them again) with their errors.
    """
    if import_session.state != ImportState.OPEN:
        raise ImportComplete()
    sizes = [(client_path(upload.name) or "(unnamed)", upload.path.stat().st_size) for upload in uploads]
    staging = Staging(directory=import_session.directory)
    try:
        if not staging.directory.is_dir():
            raise NotFoundError("This import no longer exists (it was deleted or it expired).")
        stage_uploads(staging, uploads)
        return _commit(import_session, staging, sizes)
    except BaseException as e:
        for item in staging.stored.values():
            (staging.directory / item.relative_path).unlink(missing_ok=True)
        if isinstance(e, FileNotFoundError) and not staging.directory.is_dir():  # deleted meanwhile
            raise NotFoundError("This import no longer exists (it was deleted or it expired).") from e
        raise


def _commit(import_session: ImportSession, staging: Staging, sizes: list[tuple[str, int]]) -> BatchOutcome:
    received_bytes = sum(size for _, size in sizes)
    with transaction.atomic():
        locked = ImportSession.objects.select_for_update().filter(pk=import_session.pk).first()
        if locked is None:
            raise NotFoundError("This import no longer exists (it was deleted or it expired).")
        if locked.state != ImportState.OPEN:
            raise ImportComplete()
        # Instances an earlier batch already brought are duplicates: their new copies go.
        already = set(
            DicomInstance.objects.filter(import_session=locked, sop_instance_uid__in=list(staging.stored)).values_list(
                "sop_instance_uid", flat=True
            )
        )
        duplicates = [staging.stored.pop(uid) for uid in already]
        for item in duplicates:
            staging.duplicate(item.filename, item.header.sop_instance_uid)
        new = list(staging.stored.values())
        DicomInstance.objects.bulk_create(instance_rows(locked, new), batch_size=_BATCH)
        ImportFile.objects.bulk_create(
            (ImportFile(import_session=locked, path=path, size_bytes=size) for path, size in sizes),
            batch_size=_BATCH,
            ignore_conflicts=True,  # the same path sent again (a client that resends) is listed once
        )
        ImportSession.objects.filter(pk=locked.pk).update(
            received_files=F("received_files") + staging.received_files,
            received_bytes=F("received_bytes") + received_bytes,
            instance_count=F("instance_count") + len(new),
            duplicate_count=F("duplicate_count") + staging.duplicate_count,
            duplicates=[*locked.duplicates, *staging.duplicates][:DUPLICATES_LISTED],
            total_bytes=F("total_bytes") + sum(item.size_bytes for item in new),
            errors=[*locked.errors, *staging.errors],
            expires_at=_expiry(),
        )
    for item in duplicates:  # after the commit: they were never the import's
        (staging.directory / item.relative_path).unlink(missing_ok=True)
    logger.info(
        "import %s: batch of %s files, %s instances, %s duplicates, %s errors",
        import_session.pk,
        staging.received_files,
        len(new),
        staging.duplicate_count,
        len(staging.errors),
    )
    return BatchOutcome(
        received_files=staging.received_files,
        received_bytes=received_bytes,
        instance_count=len(new),
        duplicate_count=staging.duplicate_count,
        duplicates=staging.duplicates,
        errors=staging.errors,
    )


def import_complete(*, import_session: ImportSession, request: HttpRequest | None = None) -> ImportSession:
    """Close an open import so it can be sent, and audit it; completing a complete import is a no-op.

    Raises ``NothingImportable`` (400) while it holds no instance: it stays open for more files.
    """
    with transaction.atomic():
        locked = ImportSession.objects.select_for_update().filter(pk=import_session.pk).first()
        if locked is None:
            raise NotFoundError("This import no longer exists (it was deleted or it expired).")
        if locked.state == ImportState.COMPLETE:
            return locked
        if not locked.instance_count:
            raise NothingImportable(received_files=locked.received_files, errors=locked.errors)
        now = timezone.now()
        locked.state = ImportState.COMPLETE
        locked.completed_at = now
        locked.expires_at = _expiry()
        locked.save(update_fields=["state", "completed_at", "expires_at"])
        _audit_complete(locked, request=request)
    logger.info("import %s complete: %s instances", locked.pk, locked.instance_count)
    return locked


def _audit_complete(session: ImportSession, *, request: HttpRequest | None) -> None:
    """The import's audit entry, as ``import_create`` writes it, from the rows of its instances."""
    instances = DicomInstance.objects.filter(import_session=session)

    def distinct(*fields: str) -> list[Any]:
        rows = instances.order_by(*fields).values_list(*fields).distinct()
        return [row if len(fields) > 1 else row[0] for row in rows]

    def only(values: list[str]) -> str:
        return values[0] if len(values) == 1 else ""

    patients = distinct("patient_id", "patient_name")
    studies = distinct("study_instance_uid")
    series = distinct("series_instance_uid")
    audit_record(
        action=Action.IMPORT,
        status=Status.SUCCESS,
        user=session.owner,
        request=request,
        import_session=session,
        completed_at=timezone.now(),
        instance_count=session.instance_count,
        patient_id=patients[0][0] if len(patients) == 1 else "",
        patient_name=patients[0][1] if len(patients) == 1 else "",
        study_instance_uid=only(studies),
        series_instance_uid=only(series),
        series_description=only(distinct("series_description")),
        modality=only(distinct("modality")),
        details={
            "import_id": str(session.pk),
            "batched": True,
            "received_files": session.received_files,
            "received_bytes": session.received_bytes,
            "instance_count": session.instance_count,
            "duplicate_count": session.duplicate_count,
            "duplicates": session.duplicates,
            "error_count": len(session.errors),
            "patient_count": len(patients),
            "patients": [{"patient_id": pid, "patient_name": name} for pid, name in patients[:_PATIENTS_LISTED]],
            "study_count": len(studies),
            "series_count": len(series),
            "total_bytes": session.total_bytes,
        },
    )
