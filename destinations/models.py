from __future__ import annotations

from django.conf import settings
from django.db import models


class Verify(models.TextChoices):
    """What is checked after a successful send."""

    NONE = "none", "Nothing more"
    C_FIND = "c-find", "C-FIND at IMAGE level: the destination holds every instance"


class TlsProfile(models.TextChoices):
    """DCMTK 3.6.7's BCP 195 TLS profiles (``dicomnet.tls.Profile``)."""

    BCP195_ND = "bcp195-nd", "Non-downgrading BCP 195 (DCMTK's default)"
    BCP195 = "bcp195", "BCP 195"
    BCP195_EX = "bcp195-ex", "Extended BCP 195"


class Destination(models.Model):
    """A DICOM node (PACS, workstation) that series are sent to with C-STORE.

    ``reachable`` and the fields after it are its state as the workers found it (never set
    through the API): a destination that refuses connections is unreachable since a moment, and
    its queued transfers wait for one probe (``next_probe_at``) instead of each trying on its own.
    """

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
    verify = models.CharField(max_length=20, choices=Verify.choices, default=Verify.NONE)
    # null, or {"profile": "basic", "options": [...]}: instances sent here are de-identified
    # (``destinations.validators.clean_deidentification``, ``dicom_api.services.deidentification``).
    deidentification = models.JSONField(null=True, blank=True, default=None)

    # What it is sent in (issue 15): "as-stored", "uncompressed", or a transfer syntax UID
    # (``dicom_api.services.syntax_policy``); what its last probe found it accepts.
    transfer_syntax_policy = models.CharField(max_length=64, default="as-stored")
    lossy_allowed = models.BooleanField(default=False)
    accepted_transfer_syntaxes = models.JSONField(null=True, blank=True)

    # DICOM TLS (issue 17). An empty profile: plain TCP. The certificates are public and kept here;
    # the client's private key never is: it is a file under DATA_DIR/tls/<id>/ (destinations/tls.py).
    tls_profile = models.CharField(max_length=20, blank=True, default="", choices=TlsProfile.choices)
    tls_ca_certificates = models.TextField(blank=True, default="")
    tls_client_certificate = models.TextField(blank=True, default="")

    reachable = models.BooleanField(default=True)
    unreachable_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    next_probe_at = models.DateTimeField(null=True, blank=True)
    probe_delay = models.FloatField(default=0.0)  # seconds between probes, doubling to the ceiling

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"
