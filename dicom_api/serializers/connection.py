from __future__ import annotations

from typing import Any

from rest_framework import serializers

from destinations.serializers import AcceptedTransferSyntaxesSerializer
from dicomnet.echoscu import EchoCategory


class ConnectionTestResultSerializer(serializers.Serializer[Any]):
    success = serializers.BooleanField()
    message = serializers.CharField(help_text="What happened, and what to do about it.")
    duration_ms = serializers.IntegerField()
    log_id = serializers.IntegerField(help_text="The audit entry of this test.")
    category = serializers.ChoiceField(
        choices=[category.value for category in EchoCategory],
        help_text="The kind of outcome, for programs.",
    )
    accepted_transfer_syntaxes = AcceptedTransferSyntaxesSerializer(
        allow_null=True,
        help_text="After a successful echo, the storage presentation contexts are negotiated too (nothing is "
        "sent): what the destination accepts, also kept on the destination. Null when the echo failed.",
    )
