"""Import services: store uploaded DICOM files and ZIP archives, group them, expire them.

Flow (shared/DESIGN.md, "Import"): every candidate file is read header-only inside a guard
(``dicom_api.dicomfile``); good instances are stored under server-generated names in the
import's directory; the rows are written in one transaction at the end. Anything that refuses the
whole upload (a ZIP bomb, a full disk) removes the directory, so no partial import is left.
"""

from __future__ import annotations

import datetime
import errno
import logging
import os
import shutil
import struct
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import transaction
from django.db.models import Count, Min, Sum
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from dicom_api.audit import audit_record
from dicom_api.dicomfile import DicomFileError, InstanceHeader, read_header
from dicom_api.models import ACTIVE_STATUSES, Action, DicomInstance, ImportSession, Status, TransferLog
from dicom_api.uploads import UploadTooLarge, check_free_space, raise_if_disk_full

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
# Below this many bytes a member's compression ratio is not judged: tiny files of zeros
# compress very well and are harmless.
_RATIO_FLOOR_BYTES = 1024 * 1024
_BATCH = 1000
_DISPLAY_NAME_MAX = 255


class NothingImportable(Exception):
    """No file of the upload was a DICOM instance."""

    def __init__(self, *, received_files: int, errors: list[dict[str, str]]) -> None:
        super().__init__("no DICOM instance in the upload")
        self.received_files = received_files
        self.errors = errors


class ImportInUse(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "This import has a transfer that is pending or sending; cancel it or wait for it to finish, then delete."
    )
    default_code = "import_in_use"


@dataclass(frozen=True)
class Upload:
    """One uploaded part: the client's name (for messages only) and the temporary file."""

    name: str
    path: Path


@dataclass
class _Stored:
    header: InstanceHeader
    relative_path: str
    size_bytes: int


@dataclass
class _State:
    directory: Path
    received_files: int = 0
    duplicate_count: int = 0
    stored: dict[str, _Stored] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, name: str, reason: str) -> None:
        self.errors.append({"filename": name, "error": reason})


def display_name(name: str) -> str:
    """A client-supplied name made safe to show (never to use as a path)."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in name).strip()
    return (cleaned or "(unnamed)")[:_DISPLAY_NAME_MAX]


# --- Create -------------------------------------------------------------------------------------


def import_create(*, owner: User, uploads: list[Upload], request: HttpRequest | None = None) -> ImportSession:
    """Import the uploaded files and archives; returns the new import.

    Raises ``NothingImportable`` (400) when no file is a DICOM instance, ``UploadTooLarge`` (413)
    for an archive beyond the ZIP limits, ``InsufficientStorage`` (507) when the disk is full.
    Nothing is left on disk or in the database when it raises.
    """
    import_id = uuid.uuid4()
    directory = Path(settings.IMPORTS_DIR) / str(import_id)
    directory.mkdir(mode=0o700, parents=True)
    state = _State(directory=directory)
    try:
        for upload in uploads:
            name = display_name(upload.name)
            if _is_zip(upload.path):
                _import_archive(state, upload.path, name)
            else:
                state.received_files += 1
                _import_candidate(state, upload.path, name, staged=False)
        if not state.stored:
            raise NothingImportable(received_files=state.received_files, errors=state.errors)
        session = _save(state, import_id=import_id, owner=owner, request=request)
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
    logger.info("import refused for user %s (%s)", user.pk, details.get("status", "nothing importable"))
    return audit_record(
        action=Action.IMPORT,
        status=Status.FAILED,
        user=user,
        request=request,
        completed_at=timezone.now(),
        error_message=message,
        details=details,
    )


def _is_zip(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(132)
    if head[128:132] == b"DICM":  # a DICOM preamble may hold anything, even "PK"
        return False
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _import_candidate(state: _State, path: Path, name: str, *, staged: bool) -> None:
    """Read one file's header and keep it (moved into the import), or note why not."""
    try:
        header = read_header(path)
    except DicomFileError as e:
        state.error(name, str(e))
        if staged:
            path.unlink(missing_ok=True)
        return
    if header.sop_instance_uid in state.stored:
        state.duplicate_count += 1
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
    except OSError as e:
        raise_if_disk_full(e)
        raise
    state.stored[header.sop_instance_uid] = _Stored(header=header, relative_path=relative_path, size_bytes=size)


def _move_or_copy(source: Path, destination: Path, size: int) -> None:
    try:
        source.rename(destination)  # the upload's temporary file, on the same file system: free
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        check_free_space(destination.parent, size)
        shutil.copyfile(source, destination)


def _archive_refused(name: str, reason: str) -> UploadTooLarge:
    logger.warning("archive refused: %s", reason)
    return UploadTooLarge(f"The ZIP archive {name!r} was refused: {reason}; nothing was imported.")


def _import_archive(state: _State, path: Path, name: str) -> None:
    limit_members = settings.ZIP_MAX_MEMBERS
    limit_bytes = settings.ZIP_MAX_UNCOMPRESSED_BYTES
    limit_ratio = settings.ZIP_MAX_RATIO
    try:
        # Counted before zipfile reads the central directory into memory.
        members = zip_member_count(path, stop_after=limit_members)
    except zipfile.BadZipFile:
        state.received_files += 1
        state.error(name, "damaged ZIP archive")
        return
    if members > limit_members:
        raise _archive_refused(name, f"it has more than {limit_members} members (ZIP_MAX_MEMBERS)")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        state.received_files += 1
        state.error(name, "damaged ZIP archive")
        return
    archive_size = max(path.stat().st_size, 1)
    total = 0
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            state.received_files += 1
            member_name = display_name(f"{name}/{info.filename}")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                state.error(member_name, "symbolic link in a ZIP archive: skipped")
                continue
            if info.flag_bits & 0x1:
                state.error(member_name, "encrypted ZIP member: skipped")
                continue
            check_free_space(state.directory, min(info.file_size, limit_bytes))
            staged = state.directory / f".{uuid.uuid4().hex}.part"
            written = 0
            try:
                with archive.open(info) as source, staged.open("wb") as target:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        # Actual bytes out, never the sizes the headers claim.
                        if total > limit_bytes:
                            raise _archive_refused(
                                name, f"it expands beyond {limit_bytes // 1024**2} MB (ZIP_MAX_UNCOMPRESSED_BYTES)"
                            )
                        if written > _RATIO_FLOOR_BYTES and written > limit_ratio * max(info.compress_size, 1):
                            raise _archive_refused(
                                name, f"a member is compressed more than {limit_ratio}:1 (ZIP_MAX_RATIO)"
                            )
                        if total > _RATIO_FLOOR_BYTES and total > limit_ratio * archive_size:
                            raise _archive_refused(name, f"it is compressed more than {limit_ratio}:1 (ZIP_MAX_RATIO)")
                        target.write(chunk)
            except UploadTooLarge:
                staged.unlink(missing_ok=True)
                raise
            except OSError as e:
                staged.unlink(missing_ok=True)
                raise_if_disk_full(e)
                state.error(member_name, "damaged ZIP member")
                continue
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError):
                staged.unlink(missing_ok=True)
                state.error(member_name, "damaged or unsupported ZIP member")
                continue
            _import_candidate(state, staged, member_name, staged=True)


def zip_member_count(path: Path, *, stop_after: int) -> int:
    """How many entries the ZIP's central directory holds (counting stops past ``stop_after``).

    Walks the central directory on disk entry by entry, the way ``zipfile`` will read it, so a
    central directory of millions of entries is refused before ``zipfile`` loads it into memory.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        tail_length = min(size, 22 + 65535)
        f.seek(size - tail_length)
        tail = f.read(tail_length)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise zipfile.BadZipFile("no end of central directory")
        cd_size, _cd_offset = struct.unpack("<II", tail[at + 12 : at + 20])
        end = size - tail_length + at
        locator = tail[at - 20 : at] if at >= 20 else b""
        if locator[:4] == b"PK\x06\x07":
            (record_at,) = struct.unpack("<Q", locator[8:16])
            f.seek(record_at)
            record = f.read(56)
            if record[:4] != b"PK\x06\x06":
                raise zipfile.BadZipFile("bad zip64 end of central directory")
            (cd_size,) = struct.unpack("<Q", record[40:48])
            end = record_at
        position = end - cd_size
        if position < 0:
            raise zipfile.BadZipFile("bad central directory size")
        count = 0
        while position < end:
            f.seek(position)
            entry = f.read(46)
            if len(entry) < 46 or entry[:4] != b"PK\x01\x02":
                raise zipfile.BadZipFile("bad central directory entry")
            name_length, extra_length, comment_length = struct.unpack("<HHH", entry[28:34])
            position += 46 + name_length + extra_length + comment_length
            count += 1
            if count > stop_after:
                break
        return count


def _save(state: _State, *, import_id: uuid.UUID, owner: User, request: HttpRequest | None) -> ImportSession:
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
        )
        DicomInstance.objects.bulk_create(
            (
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
                )
                for item in state.stored.values()
            ),
            batch_size=_BATCH,
        )

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
                "error_count": len(state.errors),
                "patient_count": len({(h.patient_id, h.patient_name) for h in headers}),
                "study_count": len({h.study_instance_uid for h in headers}),
                "series_count": len({h.series_instance_uid for h in headers}),
                "total_bytes": total_bytes,
            },
        )
    return session


# --- Read ---------------------------------------------------------------------------------------


def import_get(*, owner: AbstractBaseUser | AnonymousUser, import_id: uuid.UUID) -> ImportSession | None:
    """The caller's import with this id, or None (someone else's import is None too)."""
    return ImportSession.objects.filter(id=import_id, owner_id=owner.pk).first()


def import_summary(*, import_session: ImportSession) -> dict[str, Any]:
    """The import's answer: counts, patient → study → series grouping (from the rows), errors."""
    series_rows = (
        DicomInstance.objects.filter(import_session=import_session)
        .values("series_instance_uid")
        .annotate(
            n_instances=Count("id"),
            n_bytes=Sum("size_bytes"),
            g_study_uid=Min("study_instance_uid"),
            g_patient_id=Min("patient_id"),
            g_patient_name=Min("patient_name"),
            g_study_date=Min("study_date"),
            g_study_description=Min("study_description"),
            g_accession_number=Min("accession_number"),
            g_series_number=Min("series_number"),
            g_series_description=Min("series_description"),
            g_modality=Min("modality"),
        )
        .order_by()
    )
    patients: dict[tuple[str, str], dict[str, Any]] = {}
    studies: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in series_rows:
        patient_key = (row["g_patient_id"], row["g_patient_name"])
        patient = patients.setdefault(
            patient_key, {"patient_id": patient_key[0], "patient_name": patient_key[1], "studies": []}
        )
        study_key = (*patient_key, row["g_study_uid"])
        study = studies.get(study_key)
        if study is None:
            study = {
                "study_instance_uid": row["g_study_uid"],
                "study_date": row["g_study_date"],
                "study_description": row["g_study_description"],
                "accession_number": row["g_accession_number"],
                "series": [],
            }
            studies[study_key] = study
            patient["studies"].append(study)
        study["series"].append(
            {
                "series_instance_uid": row["series_instance_uid"],
                "series_number": row["g_series_number"],
                "series_description": row["g_series_description"],
                "modality": row["g_modality"],
                "instance_count": row["n_instances"],
                "size_bytes": row["n_bytes"] or 0,
            }
        )
    for patient in patients.values():
        patient["studies"].sort(key=lambda s: (s["study_date"] is None, s["study_date"] or "", s["study_instance_uid"]))
        for study in patient["studies"]:
            study["series"].sort(
                key=lambda s: (s["series_number"] is None, s["series_number"] or 0, s["series_instance_uid"])
            )
    log_id = (
        TransferLog.objects.filter(import_session=import_session, action=Action.IMPORT)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    return {
        "import_id": import_session.id,
        "log_id": log_id,
        "received_files": import_session.received_files,
        "instance_count": import_session.instance_count,
        "duplicate_count": import_session.duplicate_count,
        "created_at": import_session.created_at,
        "expires_at": import_session.expires_at,
        "patients": sorted(patients.values(), key=lambda p: (p["patient_name"], p["patient_id"])),
        "errors": import_session.errors,
    }


# --- Delete and expire --------------------------------------------------------------------------


def _has_active_transfer(import_session: ImportSession) -> bool:
    return TransferLog.objects.filter(import_session=import_session, status__in=ACTIVE_STATUSES).exists()


def _remove_directory(directory: Path) -> None:
    try:
        shutil.rmtree(directory)
    except FileNotFoundError:
        pass
    except OSError:
        logger.exception("could not remove the directory of an import (%s)", directory.name)


def import_delete(*, import_session: ImportSession) -> None:
    """Delete an import, its rows and its files at once; 409 while a transfer of it is in flight."""
    directory = import_session.directory
    with transaction.atomic():
        # The row lock keeps a concurrent send from starting on an import being deleted.
        locked = ImportSession.objects.select_for_update().filter(pk=import_session.pk).first()
        if locked is None:
            return
        if _has_active_transfer(locked):
            raise ImportInUse()
        locked.delete()
    # After the commit: a failed removal leaves an orphan directory that housekeeping sweeps.
    _remove_directory(directory)
    logger.info("import %s deleted", import_session.pk)


def import_expire_all() -> int:
    """Delete expired imports and their files; returns how many were removed.

    Imports with a transfer pending or sending are kept until it finishes. Several workers may
    run this at once: each import is locked (``skip_locked``) by the one that deletes it.
    """
    now = timezone.now()
    candidates = list(
        ImportSession.objects.filter(expires_at__lte=now)
        .exclude(transfers__status__in=ACTIVE_STATUSES)
        .values_list("pk", flat=True)
    )
    removed = 0
    for pk in candidates:
        with transaction.atomic():
            session = (
                ImportSession.objects.select_for_update(skip_locked=True).filter(pk=pk, expires_at__lte=now).first()
            )
            if session is None or _has_active_transfer(session):
                continue
            directory = session.directory
            session.delete()
        _remove_directory(directory)
        removed += 1
    removed_orphans = _remove_orphan_directories(now)
    if removed or removed_orphans:
        logger.info("expired %s imports, removed %s orphan directories", removed, removed_orphans)
    return removed


def _remove_orphan_directories(now: datetime.datetime) -> int:
    """Directories under IMPORTS_DIR with no import row, older than IMPORT_TTL (a crash mid-import)."""
    root = Path(settings.IMPORTS_DIR)
    if not root.is_dir():
        return 0
    cutoff = now.timestamp() - settings.IMPORT_TTL
    removed = 0
    for entry in os.scandir(root):
        try:
            import_id = uuid.UUID(entry.name)
        except ValueError:
            continue
        if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_mtime > cutoff:
            continue
        if ImportSession.objects.filter(pk=import_id).exists():
            continue
        _remove_directory(Path(entry.path))
        removed += 1
    return removed


def upload_temp_sweep(*, older_than: float = 12 * 3600) -> int:
    """Remove upload temporary files left by a web process that was killed mid-request (a request
    removes its own in any other case); returns how many were removed."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if not folder.is_dir():
        return 0
    limit = time.time() - older_than
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another worker was first
    if removed:
        logger.info("removed %d abandoned upload file(s)", removed)
    return removed
