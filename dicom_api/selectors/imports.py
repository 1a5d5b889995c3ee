"""Reading imports: the caller's import, and its answer grouped patient → study → series."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Min, Q, Sum

from dicom_api.models import Action, DicomInstance, ImportSession, TransferLog


def import_get(*, owner: AbstractBaseUser | AnonymousUser, import_id: uuid.UUID) -> ImportSession | None:
    """The caller's import with this id, or None (someone else's import is None too)."""
    return ImportSession.objects.filter(id=import_id, owner_id=owner.pk).first()


# Shown beside the patient, study and series (not part of the grouping): per series the least value
# that is not empty (so one instance without the attribute hides nothing), then the least of the
# series' values for the study and the patient.
_PATIENT_FACTS = ("patient_birth_date", "patient_sex")
_STUDY_FACTS = ("study_time", "referring_physician_name", "institution_name")
_SERIES_FACTS = ("series_date", "series_time", "body_part_examined")
_TEXT_FACTS = {"patient_sex", "referring_physician_name", "institution_name", "body_part_examined"}


def _fact_aggregate(name: str) -> Min:
    return Min(name, filter=~Q(**{name: ""})) if name in _TEXT_FACTS else Min(name)


def _least(rows: list[dict[str, Any]], name: str) -> Any:
    values = [row[f"f_{name}"] for row in rows if row[f"f_{name}"] is not None]
    if values:
        return min(values)
    return "" if name in _TEXT_FACTS else None


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
            **{f"f_{name}": _fact_aggregate(name) for name in (*_PATIENT_FACTS, *_STUDY_FACTS, *_SERIES_FACTS)},
        )
        .order_by()
    )
    patients: dict[tuple[str, str], dict[str, Any]] = {}
    studies: dict[tuple[str, str, str], dict[str, Any]] = {}
    rows_of: dict[int, list[dict[str, Any]]] = {}  # id() of a patient's or a study's answer → its series rows
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
        rows_of.setdefault(id(patient), []).append(row)
        rows_of.setdefault(id(study), []).append(row)
        study["series"].append(
            {
                "series_instance_uid": row["series_instance_uid"],
                "series_number": row["g_series_number"],
                "series_description": row["g_series_description"],
                "modality": row["g_modality"],
                "instance_count": row["n_instances"],
                "size_bytes": row["n_bytes"] or 0,
                **{name: _least([row], name) for name in _SERIES_FACTS},
            }
        )
    for patient in patients.values():
        patient.update({name: _least(rows_of[id(patient)], name) for name in _PATIENT_FACTS})
    for study in studies.values():
        rows = rows_of[id(study)]
        study.update({name: _least(rows, name) for name in _STUDY_FACTS})
        # Whatever order the database gave the series in: the same study answers the same values
        # (the first series' value would depend on it).
        dates = [row["g_study_date"] for row in rows if row["g_study_date"] is not None]
        study["study_date"] = min(dates) if dates else None
        for name in ("study_description", "accession_number"):
            values = [row[f"g_{name}"] for row in rows if row[f"g_{name}"]]
            study[name] = min(values) if values else ""
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
        "duplicates": import_session.duplicates,
    }
