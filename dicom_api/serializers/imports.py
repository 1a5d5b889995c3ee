"""Shapes of the import endpoints' answers (shared/API.md, ``POST /api/dicom/import/``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "string", "pattern": r"^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$", "example": "14:30:05"})
class LocalTimeField(serializers.TimeField):
    """A DICOM time (TM) as ``HH:MM:SS``: the local time the header states, with no time zone (the
    schema's ``format: time`` would demand an offset DICOM does not record)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(format="%H:%M:%S", allow_null=True, **kwargs)  # type: ignore[arg-type]


class ImportErrorSerializer(serializers.Serializer):
    filename = serializers.CharField()
    error = serializers.CharField()


class SeriesSummarySerializer(serializers.Serializer):
    series_instance_uid = serializers.CharField()
    series_number = serializers.IntegerField(allow_null=True)
    series_description = serializers.CharField(allow_blank=True)
    modality = serializers.CharField(allow_blank=True)
    instance_count = serializers.IntegerField()
    size_bytes = serializers.IntegerField()
    series_date = serializers.DateField(allow_null=True)
    series_time = LocalTimeField()
    body_part_examined = serializers.CharField(allow_blank=True)


class StudySummarySerializer(serializers.Serializer):
    study_instance_uid = serializers.CharField()
    study_date = serializers.DateField(allow_null=True)
    study_description = serializers.CharField(allow_blank=True)
    accession_number = serializers.CharField(allow_blank=True)
    study_time = LocalTimeField()
    referring_physician_name = serializers.CharField(allow_blank=True)
    institution_name = serializers.CharField(allow_blank=True)
    series = SeriesSummarySerializer(many=True)


class PatientSummarySerializer(serializers.Serializer):
    patient_id = serializers.CharField(allow_blank=True)
    patient_name = serializers.CharField(allow_blank=True)
    patient_birth_date = serializers.DateField(allow_null=True)
    patient_sex = serializers.CharField(allow_blank=True)
    studies = StudySummarySerializer(many=True)


class ImportResultSerializer(serializers.Serializer):
    import_id = serializers.UUIDField()
    log_id = serializers.IntegerField(allow_null=True)
    received_files = serializers.IntegerField()
    instance_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    patients = PatientSummarySerializer(many=True)
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors


class ImportRejectedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    received_files = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors


class ImportUploadSerializer(serializers.Serializer):
    """For the schema only: the view streams the parts itself (limits apply while reading)."""

    files = serializers.ListField(child=serializers.FileField())
