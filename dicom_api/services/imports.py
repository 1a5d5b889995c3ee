"""Import services: store uploaded DICOM files and ZIP archives as an import; discard it.

Flow (shared/DESIGN.md, "Import"): every candidate file is read header-only inside a guard
(``dicom_api.dicomfile``); ZIP archives are expanded member by member within their limits
(``dicom_api.services.archives``); good instances are stored under server-generated names in the
import's directory; the rows are written in one transaction at the end. Anything that refuses the
whole upload (a ZIP bomb, a full disk) removes the directory, so no partial import is left.
Reads are in ``dicom_api.selectors.imports``, expiry and sweeps in
``dicom_api.services.import_sweeps``.
"""

from __future__ import annotations

import datetime
import errno
import logging
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import transaction
from django.db.models import Count, Sum
from django.http import HttpRequest
from django.utils import timezone

from dicom_api.audit import audit_record
from dicom_api.dicomfile import DicomFileError, InstanceHeader, NotDicomError, read_header
from dicom_api.models import ACTIVE_STATUSES, Action, DicomInstance, ImportSession, ImportState, Status, TransferLog
from dicom_api.services.archives import ArchiveLimits, DamagedArchive, ZipArchive, is_zip
from dicom_api.storage import check_free_space, raise_if_disk_full
from dicom_transfer.exceptions import ConflictError, InvalidInputError

logger = logging.getLogger(__name__)

_BATCH = 1000
_DISPLAY_NAME_MAX = 255
_PATIENTS_LISTED = 100


class NothingImportable(InvalidInputError):
    """No file of the upload was a DICOM instance (400, with ``received_files`` and ``errors``)."""

    def __init__(self, *, received_files: int, errors: list[dict[str, str]]) -> None:
        super().__init__(
            "No DICOM instance was found in the upload; see errors.",
            extra={"received_files": received_files, "errors": errors},
        )
        self.received_files = received_files
        self.errors = errors


class ImportInUse(ConflictError):
    """The import has a transfer pending or sending (409)."""

    def __init__(self) -> None:
        super().__init__(
            "This import has a transfer that is pending or sending; cancel it or wait for it to finish, then delete."
        )


@dataclass(frozen=True)
class Upload:
    """One uploaded part: the client's name (for messages only) and the temporary file."""

    name: str
    path: Path


@dataclass
class StoredInstance:
    header: InstanceHeader
    relative_path: str
    size_bytes: int
    filename: str = ""  # as the client named it (shown, never a path)


# The skipped duplicates an import names (all are counted in ``duplicate_count``).
DUPLICATES_LISTED = 100


@dataclass
class Staging:
    directory: Path
    received_files: int = 0
    duplicate_count: int = 0
    stored: dict[str, StoredInstance] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)

    def error(self, name: str, reason: str) -> None:
        self.errors.append({"filename": name, "error": reason})

    def duplicate(self, name: str, sop_instance_uid: str) -> None:
        """A file whose instance (its SOP Instance UID) the import holds already: skipped."""
        self.duplicate_count += 1
        if len(self.duplicates) < DUPLICATES_LISTED:
            self.duplicates.append({"filename": name, "sop_instance_uid": sop_instance_uid})


def display_name(name: str) -> str:
    """A client-supplied name made safe to show (never to use as a path); a long one keeps its end."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in name).strip() or "(unnamed)"
    return cleaned if len(cleaned) <= _DISPLAY_NAME_MAX else "…" + cleaned[-(_DISPLAY_NAME_MAX - 1) :]


def stage_uploads(state: Staging, uploads: list[Upload]) -> None:
    """Read every upload (ZIP archives member by member) and move its instances into ``state.directory``.

    Raises as ``import_create`` does; the caller removes what was staged when it raises."""
    for upload in uploads:
        name = display_name(upload.name)
        if is_zip(upload.path):
            _import_archive(state, upload.path, name)
        else:
            state.received_files += 1
            _import_candidate(state, upload.path, name, staged=False)


# --- Create -------------------------------------------------------------------------------------


def import_create(*, owner: User, uploads: list[Upload], request: HttpRequest | None = None) -> ImportSession:
    """Import the uploaded files and archives; returns the new import.

    Raises ``NothingImportable`` (an ``InvalidInputError``) when no file is a DICOM instance,
    ``ArchiveRefused`` (a ``TooLargeError``) for an archive beyond the ZIP limits,
    ``StorageFullError`` when the disk is full. Nothing is left on disk or in the database when
    it raises. The uploads' files are moved into the import (or copied, across file systems).
    """
    import_id = uuid.uuid4()
    directory = Path(settings.IMPORTS_DIR) / str(import_id)
    directory.mkdir(mode=0o700, parents=True)
    state = Staging(directory=directory)
    try:
        received_bytes = sum(upload.path.stat().st_size for upload in uploads)
        stage_uploads(state, uploads)
        if not state.stored:
            raise NothingImportable(received_files=state.received_files, errors=state.errors)
        session = _save(state, import_id=import_id, owner=owner, request=request, received_bytes=received_bytes)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    logger.info(
        "import %s by user %s: %s files, %s instances, %s duplicates, %s errors",
        import_id,
        owner.pk,
        state.received_files,
        len(state.stored),
        state.duplicate_count,
        len(state.errors),
    )
    return session


def import_record_failure(
    *, user: AbstractBaseUser | AnonymousUser, request: HttpRequest | None, message: str, details: dict[str, Any]
) -> TransferLog:
    """Audit an upload that imported nothing."""
    # The message may name a client's file (often a patient's name): it goes to the audit entry,
    # never to the application log.
    reason = "upload interrupted" if details.get("aborted") else details.get("status", "nothing importable")
    logger.info("import refused for user %s (%s)", user.pk, reason)
    return audit_record(
        action=Action.IMPORT,
        status=Status.FAILED,
        user=user,
        request=request,
        completed_at=timezone.now(),
        error_message=message,
        details=details,
    )


def _not_dicom(path: Path, name: str, reason: str) -> str:
    """Why a file that is not DICOM was not imported, said of a ".zip" as of an archive."""
    if not name.lower().endswith(".zip"):
        return reason
    if is_zip(path):  # a ZIP inside an uploaded ZIP
        return "an archive inside an archive is not opened: unpack it and upload its files"
    return "neither a DICOM file nor a readable ZIP archive (damaged, or not a ZIP)"


def _import_candidate(state: Staging, path: Path, name: str, *, staged: bool) -> None:
    """Read one file's header and keep it (moved into the import), or note why not."""
    try:
        header = read_header(path)
    except NotDicomError as e:
        state.error(name, _not_dicom(path, name, str(e)))
        if staged:
            path.unlink(missing_ok=True)
        return
    except DicomFileError as e:
        state.error(name, str(e))
        if staged:
            path.unlink(missing_ok=True)
        return
    if header.sop_instance_uid in state.stored:
        state.duplicate(name, header.sop_instance_uid)
        if staged:
            path.unlink(missing_ok=True)
        return
    relative_path = f"{uuid.uuid4().hex}.dcm"
    destination = state.directory / relative_path
    size = path.stat().st_size
    try:
        if staged:
            path.rename(destination)
        else:
            _move_or_copy(path, destination, size)
        # Patient data, private whatever the umask of the process or the mode of the file given.
        destination.chmod(0o600)
    except OSError as e:
        raise_if_disk_full(e)
        raise
    state.stored[header.sop_instance_uid] = StoredInstance(
        header=header, relative_path=relative_path, size_bytes=size, filename=name
    )


def _move_or_copy(source: Path, destination: Path, size: int) -> None:
    try:
        source.rename(destination)  # the upload's temporary file, on the same file system: free
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        check_free_space(destination.parent, size)
        shutil.copyfile(source, destination)


def _import_archive(state: Staging, path: Path, name: str) -> None:
    """Every file member of the archive is a candidate; a damaged archive is one per-file error."""
    try:
        archive = ZipArchive(path, name=name, limits=ArchiveLimits.from_settings())
    except DamagedArchive:
        state.received_files += 1
        state.error(name, "damaged ZIP archive")
        return
    found_before = len(state.stored) + state.duplicate_count
    with archive:
        for member in archive.expand_each(into=state.directory):
            state.received_files += 1
            member_name = display_name(f"{name}/{member.filename}")
            if member.staged is None:
                state.error(member_name, member.error)
            else:
                _import_candidate(state, member.staged, member_name, staged=True)
    if len(state.stored) + state.duplicate_count == found_before:
        state.error(name, "the ZIP archive holds no DICOM file")


def instance_rows(session: ImportSession, stored: Iterable[StoredInstance]) -> Iterator[DicomInstance]:
    """The rows of the stored instances of an import (not saved)."""
    return (
        DicomInstance(
            import_session=session,
            relative_path=item.relative_path,
            size_bytes=item.size_bytes,
            sop_instance_uid=item.header.sop_instance_uid,
            sop_class_uid=item.header.sop_class_uid,
            transfer_syntax_uid=item.header.transfer_syntax_uid,
            study_instance_uid=item.header.study_instance_uid,
            series_instance_uid=item.header.series_instance_uid,
            patient_id=item.header.patient_id,
            patient_name=item.header.patient_name,
            study_date=item.header.study_date,
            study_description=item.header.study_description,
            accession_number=item.header.accession_number,
            series_number=item.header.series_number,
            series_description=item.header.series_description,
            modality=item.header.modality,
            instance_number=item.header.instance_number,
            patient_birth_date=item.header.patient_birth_date,
            patient_sex=item.header.patient_sex,
            study_time=item.header.study_time,
            referring_physician_name=item.header.referring_physician_name,
            institution_name=item.header.institution_name,
            series_date=item.header.series_date,
            series_time=item.header.series_time,
            body_part_examined=item.header.body_part_examined,
        )
        for item in stored
    )


def _save(
    state: Staging, *, import_id: uuid.UUID, owner: User, request: HttpRequest | None, received_bytes: int
) -> ImportSession:
    headers = [item.header for item in state.stored.values()]
    total_bytes = sum(item.size_bytes for item in state.stored.values())
    now = timezone.now()
    with transaction.atomic():
        session = ImportSession.objects.create(
            id=import_id,
            owner=owner,
            expires_at=now + datetime.timedelta(seconds=settings.IMPORT_TTL),
            received_files=state.received_files,
            instance_count=len(state.stored),
            duplicate_count=state.duplicate_count,
            total_bytes=total_bytes,
            errors=state.errors,
            duplicates=state.duplicates,
            state=ImportState.COMPLETE,
            completed_at=now,
            received_bytes=received_bytes,
        )
        DicomInstance.objects.bulk_create(instance_rows(session, state.stored.values()), batch_size=_BATCH)

        def only(values: set[str]) -> str:
            return next(iter(values)) if len(values) == 1 else ""

        audit_record(
            action=Action.IMPORT,
            status=Status.SUCCESS,
            user=owner,
            request=request,
            import_session=session,
            completed_at=timezone.now(),
            instance_count=len(state.stored),
            byte_count=total_bytes,
            patient_id=only({h.patient_id for h in headers}),
            patient_name=only({h.patient_name for h in headers}),
            study_instance_uid=only({h.study_instance_uid for h in headers}),
            series_instance_uid=only({h.series_instance_uid for h in headers}),
            series_description=only({h.series_description for h in headers}),
            modality=only({h.modality for h in headers}),
            details={
                "import_id": str(import_id),
                "received_files": state.received_files,
                "instance_count": len(state.stored),
                "duplicate_count": state.duplicate_count,
                "duplicates": state.duplicates,
                "error_count": len(state.errors),
                "patient_count": len({(h.patient_id, h.patient_name) for h in headers}),
                # The audit names every patient of an import of several (the row's fields can't).
                "patients": [
                    {"patient_id": pid, "patient_name": name}
                    for pid, name in sorted({(h.patient_id, h.patient_name) for h in headers})[:_PATIENTS_LISTED]
                ],
                "study_count": len({h.study_instance_uid for h in headers}),
                "series_count": len({h.series_instance_uid for h in headers}),
                "total_bytes": total_bytes,
            },
        )
    return session


# --- Delete ------------------------------------------------------------------------------------


def _audit_deletion(
    session: ImportSession, *, user: AbstractBaseUser | AnonymousUser, request: HttpRequest | None
) -> None:
    """Who deleted which patients' instances: one GROUP BY over the import's rows."""
    rows = list(
        DicomInstance.objects.filter(import_session=session)
        .values("patient_id", "patient_name")
        .annotate(instances=Count("id"), series=Count("series_instance_uid", distinct=True), size=Sum("size_bytes"))
        .order_by("patient_id", "patient_name")
    )
    single = rows[0] if len(rows) == 1 else None
    audit_record(
        action=Action.IMPORT_DELETE,
        status=Status.SUCCESS,
        user=user,
        request=request,
        completed_at=timezone.now(),
        instance_count=sum(row["instances"] for row in rows),
        patient_id=single["patient_id"] if single else "",
        patient_name=single["patient_name"] if single else "",
        details={
            "import_id": str(session.pk),
            "state": session.state,
            "instance_count": sum(row["instances"] for row in rows),
            "series_count": sum(row["series"] for row in rows),
            "total_bytes": sum(int(row["size"] or 0) for row in rows),
            "patient_count": len(rows),
            "patients": [
                {"patient_id": row["patient_id"], "patient_name": row["patient_name"]}
                for row in rows[:_PATIENTS_LISTED]
            ],
        },
    )


def has_active_transfer(import_session: ImportSession) -> bool:
    """Whether a transfer of the import is pending or sending (its files must stay)."""
    return TransferLog.objects.filter(import_session=import_session, status__in=ACTIVE_STATUSES).exists()


def remove_import_directory(directory: Path) -> None:
    """Remove an import's directory; a failure is logged (the orphan sweep retries it later)."""
    try:
        shutil.rmtree(directory)
    except FileNotFoundError:
        pass
    except OSError:
        logger.exception("could not remove the directory of an import (%s)", directory.name)


def import_delete(
    *, import_session: ImportSession, user: AbstractBaseUser | AnonymousUser, request: HttpRequest | None = None
) -> None:
    """Delete an import, its rows and its files at once; ``ImportInUse`` while a transfer of it is
    in flight. Audited as ``user``'s (``import_delete``: what it held), in the same transaction."""
    directory = import_session.directory
    with transaction.atomic():
        # The row lock keeps a concurrent send from starting on an import being deleted.
        locked = ImportSession.objects.select_for_update().filter(pk=import_session.pk).first()
        if locked is None:
            return
        if has_active_transfer(locked):
            raise ImportInUse()
        if DicomInstance.objects.filter(import_session=locked).exists():  # an empty one held no one's data
            _audit_deletion(locked, user=user, request=request)
        locked.delete()
    # After the commit: a failed removal leaves an orphan directory that housekeeping sweeps.
    remove_import_directory(directory)
    logger.info("import %s deleted", import_session.pk)
