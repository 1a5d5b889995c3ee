from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dicom_api.models import TransferInstance, TransferLog


class SendRequestSerializer(serializers.Serializer[Any]):
    import_id = serializers.UUIDField()
    series_instance_uids = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=1000
    )
    destination_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**31 - 1), min_length=1, max_length=100
    )
    resend = serializers.BooleanField(
        default=False,
        help_text="Send even the series already delivered to (or being sent to) a destination; without it "
        "such a request answers 409 listing them.",
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
            "instances_already_delivered",
        ]


class VerificationSerializer(serializers.Serializer[Any]):
    state = serializers.ChoiceField(choices=["pending", "verified", "incomplete", "unsupported"])
    held = serializers.IntegerField(allow_null=True, help_text="How many delivered instances the destination holds.")
    missing = serializers.ListField(
        child=serializers.CharField(), help_text="SOP Instance UIDs it does not hold (the first 1,000)."
    )
    message = serializers.CharField(help_text="In words: 'N of N held', or why it could not be verified.")


class TransferStatusSerializer(serializers.ModelSerializer[TransferLog]):
    progress = serializers.IntegerField(read_only=True)
    destination = TransferDestinationSerializer(source="*")
    verification = VerificationSerializer(
        allow_null=True,
        read_only=True,
        help_text="null: not asked. After a success, when the destination asks for it (verify: c-find) or "
        "on POST /verify/.",
    )

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
            "instances_already_delivered",
            "progress",
            "attempt",
            "next_attempt_at",
            "verification",
            "error_message",
            "timestamp",
            "completed_at",
        ]


class TransferListSerializer(serializers.Serializer[Any]):
    transfers = TransferStatusSerializer(many=True)


class TransferCreatedListSerializer(serializers.Serializer[Any]):
    transfers = TransferCreatedSerializer(many=True)


class AlreadyDeliveredSerializer(serializers.Serializer[Any]):
    series_instance_uid = serializers.CharField()
    destination_id = serializers.IntegerField()
    transfer_id = serializers.IntegerField()
    completed_at = serializers.DateTimeField(allow_null=True, help_text="null: that transfer is still on its way.")


class AlreadyDeliveredErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    already_delivered = AlreadyDeliveredSerializer(many=True)


class TransferInstanceSerializer(serializers.ModelSerializer[TransferInstance]):
    class Meta:
        model = TransferInstance
        fields = ["sop_instance_uid", "outcome", "dimse_status", "reason"]
        extra_kwargs = {
            "dimse_status": {"help_text": "The destination's DIMSE status of the C-STORE (null: not sent)."},
            "reason": {"help_text": "The status's meaning, or DCMTK's reason for an unsendable file."},
        }
