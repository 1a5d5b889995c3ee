from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dicom_api.models import TransferLog


class SendRequestSerializer(serializers.Serializer[Any]):
    import_id = serializers.UUIDField()
    series_instance_uids = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=1000
    )
    destination_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**31 - 1), min_length=1, max_length=100
    )


class TransferDestinationSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(source="destination_id", allow_null=True)
    name = serializers.CharField(source="destination_name")


class TransferCreatedSerializer(serializers.ModelSerializer[TransferLog]):
    destination = TransferDestinationSerializer(source="*")

    class Meta:
        model = TransferLog
        fields = [
            "id",
            "series_instance_uid",
            "series_description",
            "modality",
            "patient_name",
            "patient_id",
            "destination",
            "status",
            "instance_count",
        ]


class TransferStatusSerializer(serializers.ModelSerializer[TransferLog]):
    progress = serializers.IntegerField(read_only=True)
    destination = TransferDestinationSerializer(source="*")

    class Meta:
        model = TransferLog
        fields = [
            "id",
            "status",
            "series_instance_uid",
            "series_description",
            "modality",
            "patient_name",
            "patient_id",
            "destination",
            "instance_count",
            "instances_sent",
            "instances_failed",
            "progress",
            "attempt",
            "error_message",
            "timestamp",
            "completed_at",
        ]


class TransferListSerializer(serializers.Serializer[Any]):
    transfers = TransferStatusSerializer(many=True)


class TransferCreatedListSerializer(serializers.Serializer[Any]):
    transfers = TransferCreatedSerializer(many=True)
