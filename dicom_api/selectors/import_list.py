"""Reading the caller's imports as a list (``GET /imports/``), and an open import's manifest."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat

from dicom_api.models import Action, DicomInstance, ImportFile, ImportSession, ImportUpload, TransferLog


def _count_of(queryset: QuerySet[Any], expression: Any) -> Coalesce:
    """A correlated subquery counting ``expression`` (distinct) over ``queryset``, 0 when empty."""
    counted = queryset.order_by().values("import_session").annotate(n=Count(expression, distinct=True)).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def import_list(
    *, owner: AbstractBaseUser | AnonymousUser | None = None, username: str | None = None
) -> QuerySet[ImportSession]:
    """Imports newest first, with their patient, study, series and transfer counts.

    ``owner``: that user's imports only; ``username``: those of the user of that name (admins).
    The counts are subqueries per row: a page of 50 costs 50 small index scans.
    """
    imports = ImportSession.objects.all()
    if owner is not None:
        imports = imports.filter(owner_id=owner.pk)
    if username is not None:
        imports = imports.filter(owner__username=username)
    instances = DicomInstance.objects.filter(import_session=OuterRef("pk"))
    sends = TransferLog.objects.filter(import_session=OuterRef("pk"), action=Action.SEND)
    return (
        imports.select_related("owner")
        .annotate(
            # A patient is a (patient id, name) pair, as the summary groups them; "\\" is in neither.
            patient_count=_count_of(instances, Concat("patient_id", Value("\\"), "patient_name")),
            study_count=_count_of(instances, "study_instance_uid"),
            series_count=_count_of(instances, "series_instance_uid"),
            transfer_count=_count_of(sends, "id"),
        )
        .order_by("-created_at", "-pk")
    )


def import_manifest(*, import_session: ImportSession) -> list[dict[str, Any]]:
    """Every file received into the import: the client's relative path and its size."""
    files = ImportFile.objects.filter(import_session=import_session).order_by("path")
    return [{"path": path, "size_bytes": size} for path, size in files.values_list("path", "size_bytes")]


def import_partial_uploads(*, import_session: ImportSession) -> list[dict[str, Any]]:
    """The large files of the import still being sent in chunks, with the bytes received."""
    uploads = ImportUpload.objects.filter(import_session=import_session).order_by("path")
    return [
        {"upload_id": pk, "path": path, "size_bytes": size, "offset": offset}
        for pk, path, size, offset in uploads.values_list("id", "path", "size_bytes", "offset")
    ]
