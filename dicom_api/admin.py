"""The Django admin shows imports and the audit trail read-only: the trail is append-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from dicom_api.models import ImportSession, TransferLog


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """View only: no add, no change, no delete (not even the bulk delete action)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TransferLog)
class TransferLogAdmin(ReadOnlyAdmin):
    list_display = ("id", "timestamp", "username", "action", "status", "patient_id", "modality", "destination_name")
    list_filter = ("action", "status", "timestamp")
    search_fields = ("=username", "=patient_id", "=study_instance_uid", "=series_instance_uid", "destination_name")
    date_hierarchy = "timestamp"
    # The table grows to millions of rows: no exact count of the unfiltered set on every page.
    show_full_result_count = False


@admin.register(ImportSession)
class ImportSessionAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "created_at", "expires_at", "instance_count", "total_bytes")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
