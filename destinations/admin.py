from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from destinations.audit import DestinationAction, announce, changes_between, secrets_of, settings_of
from destinations.models import Destination
from destinations.validators import clean_ae_title, clean_host, validate_port


class DestinationForm(forms.ModelForm[Destination]):
    """The admin form applies the API's validation (the model fields themselves carry none)."""

    class Meta:
        model = Destination
        fields = ["name", "ae_title", "host", "port", "description", "enabled"]

    def clean_ae_title(self) -> str:
        return clean_ae_title(self.cleaned_data["ae_title"])

    def clean_host(self) -> str:
        return clean_host(self.cleaned_data["host"])

    def clean_port(self) -> int:
        port: int = self.cleaned_data["port"]
        validate_port(port)
        return port


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin[Destination]):
    form = DestinationForm
    list_display = ["name", "ae_title", "host", "port", "enabled", "created_by", "updated_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "ae_title", "host"]
    readonly_fields = ["created_by", "created_at", "updated_at", "kind", "url"]

    def get_readonly_fields(self, request: HttpRequest, obj: Destination | None = None) -> list[str]:
        # A DICOMweb destination (its URL, auth and CA) is managed through the API and the page,
        # where the secret is write-only; here its address is shown, never its secret.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.is_dicomweb:
            fields += ["ae_title", "host", "port"]
        return fields

    # Changes here are audited as in the API (destinations/audit.py), in the admin's transaction.
    def save_model(self, request: HttpRequest, obj: Destination, form: Any, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user  # type: ignore[assignment]
        stored = Destination.objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        if stored is None:
            details: dict[str, Any] = {"settings": settings_of(obj), "via": "admin"}
            announce(DestinationAction.CREATE, actor=request.user, request=request, destination=obj, details=details)
            return
        details = changes_between(settings_of(stored), settings_of(obj), secrets_of(stored), secrets_of(obj))
        if details:
            details["via"] = "admin"
            announce(DestinationAction.UPDATE, actor=request.user, request=request, destination=obj, details=details)

    def delete_model(self, request: HttpRequest, obj: Destination) -> None:
        details = {"settings": settings_of(obj), "via": "admin"}
        announce(DestinationAction.DELETE, actor=request.user, request=request, destination=obj, details=details)
        super().delete_model(request, obj)

    @transaction.atomic  # the bulk action is not atomic by itself: entries and deletions commit together
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Destination]) -> None:
        for obj in queryset:
            details = {"settings": settings_of(obj), "via": "admin"}
            announce(DestinationAction.DELETE, actor=request.user, request=request, destination=obj, details=details)
        super().delete_queryset(request, queryset)
