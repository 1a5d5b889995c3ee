"""DICOM test data: series generated with pydicom, and imports written straight to the database.

The import API has its own tests; transfer tests build their imports here so they exercise the
send path alone (the end-to-end test goes through the import API too).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pydicom
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from dicom_api.models import DicomInstance, ImportSession


@dataclass
class GeneratedSeries:
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    patient_name: str
    files: list[Path]
    sop_instance_uids: list[str]


def generate_series(
    directory: Path,
    count: int,
    *,
    patient_name: str = "DOE^JANE",
    patient_id: str = "PID-0001",
    study_instance_uid: str | None = None,
    modality: str = "CT",
    description: str = "Generated series",
    template: str = "CT_small.dcm",
    series_number: int | None = None,
    study_description: str | None = None,
    study_date: str | None = None,
) -> GeneratedSeries:
    """``count`` instances of one series, from one of pydicom's sample files with fresh UIDs."""
    directory.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(get_testdata_file(template))
    series_uid = generate_uid()
    study_uid = study_instance_uid or generate_uid()
    files, sops = [], []
    for number in range(1, count + 1):
        dataset: Dataset = base.copy()
        sop = generate_uid()
        dataset.SOPInstanceUID = sop
        dataset.file_meta.MediaStorageSOPInstanceUID = sop
        dataset.SeriesInstanceUID = series_uid
        dataset.StudyInstanceUID = study_uid
        dataset.PatientName = patient_name
        dataset.PatientID = patient_id
        dataset.Modality = modality
        dataset.SeriesDescription = description
        dataset.InstanceNumber = number
        if series_number is not None:
            dataset.SeriesNumber = series_number
        if study_description is not None:
            dataset.StudyDescription = study_description
        if study_date is not None:
            dataset.StudyDate = study_date  # YYYYMMDD
        path = directory / f"{series_uid[-12:]}-{number:05d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        files.append(path)
        sops.append(sop)
    return GeneratedSeries(series_uid, study_uid, patient_id, patient_name, files, sops)


def _dicom_date(value: object) -> date | None:
    text = str(value or "")
    return date(int(text[:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 and text.isdigit() else None


def import_files(owner: User, files: list[Path], *, series_override: str | None = None) -> ImportSession:
    """An import of ``files`` as the import service would leave it: files copied, rows written."""
    session = ImportSession.objects.create(
        owner=owner, expires_at=timezone.now() + timedelta(seconds=settings.IMPORT_TTL)
    )
    session.directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in files:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        name = f"{uuid.uuid4().hex}.dcm"
        shutil.copyfile(path, session.directory / name)
        rows.append(
            DicomInstance(
                import_session=session,
                sop_instance_uid=str(dataset.SOPInstanceUID),
                sop_class_uid=str(dataset.SOPClassUID),
                transfer_syntax_uid=str(dataset.file_meta.TransferSyntaxUID),
                study_instance_uid=str(dataset.StudyInstanceUID),
                series_instance_uid=series_override or str(dataset.SeriesInstanceUID),
                patient_id=str(dataset.get("PatientID", "")),
                patient_name=str(dataset.get("PatientName", "")),
                series_description=str(dataset.get("SeriesDescription", "")),
                series_number=int(dataset.SeriesNumber) if dataset.get("SeriesNumber") is not None else None,
                study_description=str(dataset.get("StudyDescription", "")),
                study_date=_dicom_date(dataset.get("StudyDate")),
                modality=str(dataset.get("Modality", "")),
                instance_number=int(dataset.InstanceNumber) if dataset.get("InstanceNumber") else None,
                relative_path=name,
                size_bytes=path.stat().st_size,
            )
        )
    DicomInstance.objects.bulk_create(rows)
    session.instance_count = len(rows)
    session.received_files = len(files)
    session.save()
    return session
