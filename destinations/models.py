from __future__ import annotations

from django.conf import settings
from django.db import models


class Destination(models.Model):
    """A DICOM node (PACS, workstation) that series are sent to with C-STORE."""

    name = models.CharField(max_length=100, unique=True)
    ae_title = models.CharField("AE title", max_length=16)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=104)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"
