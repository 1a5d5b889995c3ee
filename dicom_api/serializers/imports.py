"""Shapes of the import endpoints' answers (shared/API.md, ``POST /api/dicom/import/``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dicom_api.models import ImportState


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


class ImportDuplicateSerializer(serializers.Serializer):
    filename = serializers.CharField(help_text="The skipped file, as the client named it.")
    sop_instance_uid = serializers.CharField(help_text="The instance it holds, which the import has from another file.")


_DUPLICATES_HELP = "The files skipped as duplicates (their instance is in the import already), the first 100."


class ImportResultSerializer(serializers.Serializer):
    import_id = serializers.UUIDField()
    log_id = serializers.IntegerField(allow_null=True)
    received_files = serializers.IntegerField()
    instance_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    state = serializers.ChoiceField(
        choices=ImportState.choices, help_text="`open` while batches are being added; only `complete` can be sent."
    )
    received_bytes = serializers.IntegerField()
    patients = PatientSummarySerializer(many=True)
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors
    duplicates = ImportDuplicateSerializer(many=True, help_text=_DUPLICATES_HELP)


class ImportRejectedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    received_files = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors


class ImportUploadSerializer(serializers.Serializer):
    """For the schema only: the view streams the parts itself (limits apply while reading)."""

    files = serializers.ListField(child=serializers.FileField())


class ImportListItemSerializer(serializers.Serializer):
    """One row of ``GET /imports/``."""

    import_id = serializers.UUIDField(source="id")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    state = serializers.ChoiceField(choices=ImportState.choices)
    owner = serializers.CharField(source="owner.username")
    received_files = serializers.IntegerField()
    received_bytes = serializers.IntegerField(help_text="Bytes of the files received, each counted once.")
    instance_count = serializers.IntegerField()
    size_bytes = serializers.IntegerField(source="total_bytes", help_text="Bytes of the stored instances.")
    patient_count = serializers.IntegerField()
    study_count = serializers.IntegerField()
    series_count = serializers.IntegerField()
    transfer_count = serializers.IntegerField(help_text="Transfers (series × destination) sent from this import.")


class ImportOpenedSerializer(serializers.Serializer):
    """The answer of ``POST /imports/``: the new open import."""

    import_id = serializers.UUIDField(source="id")
    state = serializers.ChoiceField(choices=ImportState.choices)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class ManifestFileSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The client's relative path of the file (as sent in its filename).")
    size_bytes = serializers.IntegerField()


class PartialUploadSerializer(serializers.Serializer):
    upload_id = serializers.UUIDField()
    path = serializers.CharField()
    size_bytes = serializers.IntegerField()
    offset = serializers.IntegerField()


class ImportManifestSerializer(serializers.Serializer):
    """What an import has received: a resuming client sends only the files not listed here."""

    import_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=ImportState.choices)
    received_files = serializers.IntegerField()
    received_bytes = serializers.IntegerField()
    instance_count = serializers.IntegerField()
    files = ManifestFileSerializer(many=True)
    uploads = PartialUploadSerializer(many=True, help_text="Large files being sent in chunks, and how far.")


class BatchOutcomeSerializer(serializers.Serializer):
    received_files = serializers.IntegerField()
    received_bytes = serializers.IntegerField()
    instance_count = serializers.IntegerField(help_text="New instances this batch added.")
    duplicate_count = serializers.IntegerField()
    duplicates = ImportDuplicateSerializer(many=True, help_text=_DUPLICATES_HELP)
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors


class BatchResultSerializer(serializers.Serializer):
    """The answer of ``POST /imports/{id}/files/``: what the batch added, and the import's totals."""

    import_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=ImportState.choices)
    batch = BatchOutcomeSerializer()
    received_files = serializers.IntegerField()
    received_bytes = serializers.IntegerField()
    instance_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    duplicates = ImportDuplicateSerializer(many=True, help_text=_DUPLICATES_HELP)
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors
