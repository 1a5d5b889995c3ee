"""The audit log entry as the API shows it (shared/API.md, ``GET /logs/``).

Everything comes from the entry's own columns, snapshots included, so listing a page never
reads another table and an entry reads the same after its user or destination is gone.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dicom_api.models import TransferLog


class LogUserSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(allow_null=True, help_text="Null once the account is deleted.")
    username = serializers.CharField()


class LogDestinationSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(allow_null=True, help_text="Null once the destination is deleted.")
    deleted = serializers.BooleanField(help_text="The destination was deleted since (the entry keeps what it was).")
    name = serializers.CharField()
    ae_title = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField(allow_null=True)


class TransferLogSerializer(serializers.ModelSerializer[TransferLog]):
    user = serializers.SerializerMethodField()
    destination = serializers.SerializerMethodField()

    class Meta:
        model = TransferLog
        fields = [
            "id",
            "user",
            "action",
            "timestamp",
            "completed_at",
            "status",
            "patient_name",
            "patient_id",
            "study_instance_uid",
            "series_instance_uid",
            "series_description",
            "modality",
            "instance_count",
            "instances_sent",
            "instances_failed",
            "attempt",
            "destination",
            "error_message",
            "details",
            "client_address",
        ]
        read_only_fields = fields

    @extend_schema_field(LogUserSerializer)
    def get_user(self, entry: TransferLog) -> dict[str, Any]:
        return {"id": entry.user_id, "username": entry.username}

    @extend_schema_field(LogDestinationSerializer(allow_null=True))
    def get_destination(self, entry: TransferLog) -> dict[str, Any] | None:
        if entry.destination_id is None and not entry.destination_name:
            return None
        return {
            "id": entry.destination_id,
            "deleted": entry.destination_id is None,
            "name": entry.destination_name,
            "ae_title": entry.destination_ae_title,
            "host": entry.destination_host,
            "port": entry.destination_port,
        }
