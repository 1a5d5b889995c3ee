from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dicom_api.models import TransferInstance, TransferLog
from dicom_api.selectors.transfers import transfer_retry_blocker


def _dicom_text(value: str, *, field: str, limit: int) -> str:
    if len(value) > limit:
        raise serializers.ValidationError(f"{field}: at most {limit} characters.")
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise serializers.ValidationError(f"{field}: no backslash and no control characters (one value only).")
    return value


class SendAsPatientSerializer(serializers.Serializer[Any]):
    """New values for the patient of the series sent (any subset), applied to the copies sent."""

    patient_id = serializers.CharField(required=False, allow_blank=False, trim_whitespace=True, max_length=64)
    issuer_of_patient_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    patient_name = serializers.CharField(
        required=False, allow_blank=True, max_length=324, help_text="DICOM PN: Family^Given^Middle^Prefix^Suffix"
    )
    patient_birth_date = serializers.CharField(required=False, allow_blank=True, help_text="YYYYMMDD")
    patient_sex = serializers.ChoiceField(required=False, allow_blank=True, choices=["M", "F", "O"])
    accession_number = serializers.CharField(required=False, allow_blank=True, max_length=16)

    def validate_patient_id(self, value: str) -> str:
        return _dicom_text(value, field="patient_id", limit=64)

    def validate_issuer_of_patient_id(self, value: str) -> str:
        return _dicom_text(value, field="issuer_of_patient_id", limit=64)

    def validate_accession_number(self, value: str) -> str:
        return _dicom_text(value, field="accession_number", limit=16)

    def validate_patient_name(self, value: str) -> str:
        _dicom_text(value, field="patient_name", limit=324)
        groups = value.split("=")
        if len(groups) > 3 or any(len(group) > 64 or group.count("^") > 4 for group in groups):
            raise serializers.ValidationError(
                "patient_name: DICOM PN, at most 5 components separated by ^ and 64 characters per group."
            )
        return value

    def validate_patient_birth_date(self, value: str) -> str:
        if value == "":
            return value
        try:
            datetime.strptime(value, "%Y%m%d")
        except ValueError:
            raise serializers.ValidationError("patient_birth_date: a date as YYYYMMDD (DICOM DA).") from None
        if len(value) != 8:
            raise serializers.ValidationError("patient_birth_date: a date as YYYYMMDD (DICOM DA).")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("patient: give at least one value to change, or leave it out.")
        return attrs


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
    patient = SendAsPatientSerializer(
        required=False,
        help_text="Send as: new values for the patient of the selected series, applied to every instance sent "
        "(not to the stored import); the values replaced are kept in each instance's Original Attributes Sequence.",
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


def _detail(log: TransferLog, key: str) -> Any:
    return (log.details or {}).get(key)


class TransferStatusSerializer(serializers.ModelSerializer[TransferLog]):
    """A transfer's state, with what a page needs to group transfers by request and study (these
    are snapshots taken at Send; transfers queued before they existed answer null)."""

    progress = serializers.IntegerField(read_only=True)
    destination = TransferDestinationSerializer(source="*")
    verification = VerificationSerializer(
        allow_null=True,
        read_only=True,
        help_text="null: not asked. After a success, when the destination asks for it (verify: c-find) or "
        "on POST /verify/.",
    )
    send_request = serializers.SerializerMethodField(
        help_text="The same for every transfer of one Send (a retry keeps its origin's); null for older ones."
    )
    study_description = serializers.SerializerMethodField()
    study_date = serializers.SerializerMethodField()
    series_number = serializers.SerializerMethodField()
    retry_of = serializers.SerializerMethodField(help_text="The transfer this one retries.")
    retried_by = serializers.SerializerMethodField(help_text="The transfer that retried this one.")
    can_retry = serializers.SerializerMethodField(help_text="Whether POST .../retry/ would queue a new transfer.")
    retry_blocked_because = serializers.SerializerMethodField(
        help_text="Why it can't be retried, in words (empty when it can)."
    )

    @extend_schema_field(OpenApiTypes.STR)
    def get_send_request(self, log: TransferLog) -> str | None:
        return _detail(log, "send_request")

    @extend_schema_field(OpenApiTypes.STR)
    def get_study_description(self, log: TransferLog) -> str | None:
        return _detail(log, "study_description")

    @extend_schema_field(OpenApiTypes.DATE)
    def get_study_date(self, log: TransferLog) -> str | None:
        return _detail(log, "study_date")

    @extend_schema_field(OpenApiTypes.INT)
    def get_series_number(self, log: TransferLog) -> int | None:
        return _detail(log, "series_number")

    @extend_schema_field(OpenApiTypes.INT)
    def get_retry_of(self, log: TransferLog) -> int | None:
        return _detail(log, "retry_of")

    @extend_schema_field(OpenApiTypes.INT)
    def get_retried_by(self, log: TransferLog) -> int | None:
        return _detail(log, "retried_by")

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_can_retry(self, log: TransferLog) -> bool:
        return transfer_retry_blocker(log) is None

    @extend_schema_field(OpenApiTypes.STR)
    def get_retry_blocked_because(self, log: TransferLog) -> str:
        return transfer_retry_blocker(log) or ""

    class Meta:
        model = TransferLog
        fields = [
            "id",
            "status",
            "send_request",
            "study_instance_uid",
            "study_description",
            "study_date",
            "series_instance_uid",
            "series_number",
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
            "retry_of",
            "retried_by",
            "can_retry",
            "retry_blocked_because",
        ]


class TransferListSerializer(serializers.Serializer[Any]):
    transfers = TransferStatusSerializer(many=True)


class TransferCreatedListSerializer(serializers.Serializer[Any]):
    transfers = TransferCreatedSerializer(many=True)


class AlreadyDeliveredSerializer(serializers.Serializer[Any]):
    series_instance_uid = serializers.CharField()
    destination_id = serializers.IntegerField()
    transfer_id = serializers.IntegerField(allow_null=True, help_text="null: another user's transfer.")
    completed_at = serializers.DateTimeField(allow_null=True, help_text="null: that transfer is still on its way.")


class AlreadyDeliveredErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    already_delivered = AlreadyDeliveredSerializer(many=True)


class TransferInstanceSerializer(serializers.ModelSerializer[TransferInstance]):
    class Meta:
        model = TransferInstance
        fields = [
            "sop_instance_uid",
            "outcome",
            "dimse_status",
            "reason",
            "transcoded_from",
            "transcoded_to",
            "changes",
        ]
        extra_kwargs = {
            "dimse_status": {"help_text": "The destination's DIMSE status of the C-STORE (null: not sent)."},
            "reason": {
                "help_text": "The status's meaning, DCMTK's reason for an unsendable file, why no copy the destination "
                "accepts could be made, or why a change of this send held it back."
            },
            "transcoded_from": {"help_text": "Sent as a copy transcoded from this transfer syntax UID (empty: not)."},
            "transcoded_to": {"help_text": "... to this one (empty: sent in its stored syntax)."},
            "changes": {"help_text": "What the send's changes (reconciliation, de-identification) did to it, or null."},
        }
