"""The dashboard's answer (``GET /api/dicom/dashboard/``): figures only, no patient data."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class DashboardDestinationSerializer(serializers.Serializer[Any]):
    destination = serializers.CharField(help_text="The destination's name as the transfers contacted it.")
    succeeded = serializers.IntegerField(help_text="Transfers that ended in success within the window.")
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    instances_sent = serializers.IntegerField(help_text="Instances the destination stored (finished transfers).")
    bytes_sent = serializers.IntegerField(help_text="Their bytes, as imported.")
    send_seconds_median = serializers.FloatField(
        allow_null=True, help_text="Median send time (first attempt to outcome) of successes and failures."
    )
    send_seconds_p95 = serializers.FloatField(allow_null=True, help_text="95th percentile (percentile_cont).")
    pending = serializers.IntegerField(help_text="Now: transfers waiting.")
    sending = serializers.IntegerField(help_text="Now: transfers being sent.")
    oldest_pending_seconds = serializers.FloatField(help_text="Now: age of the oldest waiting transfer (0: none).")


class DashboardPointSerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField(help_text="Start of the hour (24h) or UTC day (7d).")
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


class DashboardSerializer(serializers.Serializer[Any]):
    window = serializers.ChoiceField(choices=["24h", "7d"])
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    bucket = serializers.ChoiceField(choices=["hour", "day"], help_text="The timeline's step.")
    destinations = DashboardDestinationSerializer(many=True)
    timeline = DashboardPointSerializer(many=True, help_text="Every destination's transfers, per bucket.")
