"""Reading imports: the caller's import, and its answer grouped patient → study → series."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Min, Sum

from dicom_api.models import Action, DicomInstance, ImportSession, TransferLog


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
        "state": import_session.state,
        "received_bytes": import_session.received_bytes,
        "patients": sorted(patients.values(), key=lambda p: (p["patient_name"], p["patient_id"])),
        "errors": import_session.errors,
    }
