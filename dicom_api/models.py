"""The database of DICOM Transfer's operations: imports, their instances, and the audit trail.

``TransferLog`` is the audit trail (append-only through the API). Every row keeps a snapshot of
what it names (user, destination, patient, study, series), so deleting a destination or a user
never changes what the trail says. A ``send`` row is also the transfer's state machine.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q


class Action(models.TextChoices):
    IMPORT = "import", "Import"
    SEND = "send", "Send"
    TEST_CONNECTION = "test_connection", "Test connection"
    LOGIN = "login", "Login"
    LOGOUT = "logout", "Logout"
    # Accounts (authentication/services.py): the entry's user is who did it; details name the account.
    USER_CREATE = "user_create", "User created"
    USER_UPDATE = "user_update", "User changed"
    PASSWORD_CHANGE = "password_change", "Password changed"
    PASSWORD_RESET = "password_reset", "Password reset"
    PSEUDONYM_LOOKUP = "pseudonym_lookup", "Pseudonym looked up"  # an admin asked who a pseudonym is
    # Destinations (destinations/audit.py): who added, changed or deleted one, and what.
    DESTINATION_CREATE = "destination_create", "Destination added"
    DESTINATION_UPDATE = "destination_update", "Destination changed"
    DESTINATION_DELETE = "destination_delete", "Destination deleted"
    IMPORT_DELETE = "import_delete", "Import deleted"  # by its owner: which patients' instances


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (Status.PENDING, Status.SENDING)
FINISHED_STATUSES = (Status.SUCCESS, Status.FAILED, Status.CANCELLED)


class ImportState(models.TextChoices):
    OPEN = "open", "Open (being filled)"
    COMPLETE = "complete", "Complete"


class ImportSession(models.Model):
    """One import: its files live in ``DATA_DIR/imports/<id>/`` until it expires or is deleted.

    ``POST /import/`` makes a complete one in one request. An import opened with
    ``POST /imports/`` is ``open`` while batches of files are added, and can be sent only once it
    is ``complete`` (``dicom_api.services.import_batches``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="imports")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    received_files = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    # The files skipped as duplicates ({filename, sop_instance_uid}), the first DUPLICATES_LISTED.
    duplicates = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=8, choices=ImportState.choices, default=ImportState.COMPLETE)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Bytes of the files received (ZIP archives at their own size), once each.
    received_bytes = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="import_owner_created_idx")]

    def __str__(self) -> str:
        return f"import {self.id}"

    @property
    def directory(self) -> Path:
        return Path(settings.IMPORTS_DIR) / str(self.id)


class ImportFile(models.Model):
    """One file received into an open import, by the client's relative path: the manifest a
    client reads to resume an upload with only what is missing. The path is the client's name,
    shown and compared, never used as a path on the server."""

    import_session = models.ForeignKey(ImportSession, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    size_bytes = models.BigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["import_session", "path"], name="import_file_unique_path")]

    def __str__(self) -> str:
        return f"import file {self.pk}"


class ImportUpload(models.Model):
    """One large file (a ZIP of a disc) being sent into an open import in chunks, resumable from
    ``offset``; its bytes so far are in a hidden file of the import's directory. Once whole, it is
    added to the import as a batch of one and this row goes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    import_session = models.ForeignKey(ImportSession, on_delete=models.CASCADE, related_name="uploads")
    path = models.CharField(max_length=1024)  # the client's relative path: shown and compared only
    size_bytes = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["import_session", "path"], name="import_upload_unique_path")]

    def __str__(self) -> str:
        return f"import upload {self.pk}"

    @property
    def partial_path(self) -> Path:
        return self.import_session.directory / f".upload-{self.id.hex}"


class DicomInstance(models.Model):
    """One stored instance of an import, with the header fields the grouping and audit need."""

    import_session = models.ForeignKey(ImportSession, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True, default="")
    study_instance_uid = models.CharField(max_length=64)
    series_instance_uid = models.CharField(max_length=64)
    patient_id = models.CharField(max_length=64, blank=True, default="")
    patient_name = models.CharField(max_length=324, blank=True, default="")
    study_date = models.DateField(null=True, blank=True)
    study_description = models.CharField(max_length=64, blank=True, default="")
    accession_number = models.CharField(max_length=16, blank=True, default="")
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=64, blank=True, default="")
    modality = models.CharField(max_length=16, blank=True, default="")
    instance_number = models.IntegerField(null=True, blank=True)
    # Shown beside the patient, study and series so that staff can confirm them.
    patient_birth_date = models.DateField(null=True, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True, default="")
    study_time = models.TimeField(null=True, blank=True)
    referring_physician_name = models.CharField(max_length=324, blank=True, default="")
    institution_name = models.CharField(max_length=64, blank=True, default="")
    series_date = models.DateField(null=True, blank=True)
    series_time = models.TimeField(null=True, blank=True)
    body_part_examined = models.CharField(max_length=16, blank=True, default="")
    # Relative to the import's directory; always a server-generated name.
    relative_path = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["import_session", "sop_instance_uid"], name="instance_unique_sop_per_import"
            )
        ]
        indexes = [models.Index(fields=["import_session", "series_instance_uid"], name="instance_series_idx")]

    def __str__(self) -> str:
        return f"instance {self.pk}"

    @property
    def path(self) -> Path:
        return self.import_session.directory / self.relative_path


class TransferLog(models.Model):
    """The audit trail. For ``send`` rows also the state of the transfer."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="transfer_logs"
    )
    username = models.CharField(max_length=150, blank=True, default="")
    client_address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    timestamp = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)

    patient_name = models.CharField(max_length=324, blank=True, default="")
    patient_id = models.CharField(max_length=64, blank=True, default="")
    study_instance_uid = models.CharField(max_length=64, blank=True, default="")
    series_instance_uid = models.CharField(max_length=64, blank=True, default="")
    series_description = models.CharField(max_length=64, blank=True, default="")
    modality = models.CharField(max_length=16, blank=True, default="")
    instance_count = models.PositiveIntegerField(default=0)

    destination = models.ForeignKey(
        "destinations.Destination", null=True, blank=True, on_delete=models.SET_NULL, related_name="logs"
    )
    # The destination's id when the entry was made, kept when the destination is deleted (which
    # empties ``destination``): the entries of two deleted destinations of one name stay apart.
    destination_key = models.BigIntegerField(null=True, blank=True)
    destination_name = models.CharField(max_length=100, blank=True, default="")
    destination_ae_title = models.CharField(max_length=16, blank=True, default="")
    destination_host = models.CharField(max_length=255, blank=True, default="")
    destination_port = models.PositiveIntegerField(null=True, blank=True)

    error_message = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)

    # Transfer state (action "send").
    import_session = models.ForeignKey(
        ImportSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="transfers"
    )
    instances_sent = models.PositiveIntegerField(default=0)
    instances_failed = models.PositiveIntegerField(default=0)
    attempt = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Unique per claim (``dicom_api.tasks.claim_token``): only the claim that owns a sending
    # transfer may move it on.
    claim_token = models.CharField(max_length=64, blank=True, default="")
    # Acknowledged before the current attempt began (by earlier attempts, or by the transfer this
    # one retries): the current attempt sends only the rest.
    instances_already_delivered = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # a requeued transfer's next attempt
    # How many associations the current (or last) attempt took at its claim: the per-destination
    # cap counts the associations of the sending transfers (``transfer_lifecycle.claim``).
    associations = models.PositiveSmallIntegerField(default=1)
    # After a successful send to a destination that asks for it: {state, held, missing, message}
    # (``dicom_api.services.verification``).
    verification = models.JSONField(null=True, blank=True)
    # Figures of the metrics and the dashboard (``dicom_api.selectors.metrics`` and ``.dashboard``),
    # kept as columns so they are aggregated in the database. ``started_at``: the first claim;
    # ``queue_seconds``: from the request to it; ``send_seconds``: from it to the final outcome
    # (retries' waits included: how long the user waited for it to be done).
    started_at = models.DateTimeField(null=True, blank=True)
    queue_seconds = models.FloatField(null=True, blank=True)
    send_seconds = models.FloatField(null=True, blank=True)
    # The bytes the entry moved: of the instances the destination stored (send, as they were
    # imported), or stored by the import (import).
    byte_count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["-timestamp", "-id"], name="log_timestamp_idx"),
            models.Index(fields=["user", "-timestamp"], name="log_user_timestamp_idx"),
            models.Index(fields=["status", "-timestamp"], name="log_status_timestamp_idx"),
            models.Index(fields=["action", "-timestamp"], name="log_action_timestamp_idx"),
            models.Index(fields=["patient_id"], name="log_patient_id_idx"),
            models.Index(fields=["study_instance_uid"], name="log_study_uid_idx"),
            models.Index(fields=["destination", "status"], name="log_destination_status_idx"),
            models.Index(
                fields=["status", "heartbeat_at"],
                name="log_active_idx",
                condition=Q(status__in=["pending", "sending"]),
            ),
            # The dashboard's window and the metrics' totals: finished sends, by when they ended.
            models.Index(
                fields=["completed_at"],
                name="log_send_completed_idx",
                condition=Q(action="send"),
            ),
            # The audit log's filter of deleted destinations: the ids and names their entries kept.
            models.Index(
                fields=["destination_key", "destination_name"],
                name="log_deleted_destination_idx",
                condition=Q(destination__isnull=True) & ~Q(destination_name=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} #{self.pk} ({self.status})"

    @property
    def progress(self) -> int:
        """Percent done: while sending, of the instances answered (stored or refused); otherwise, of
        the instances the destination stored (a failed transfer that never connected is at 0 %)."""
        if not self.instance_count:
            return 100 if self.status == Status.SUCCESS else 0
        done = self.instances_sent + (self.instances_failed if self.status == Status.SENDING else 0)
        return min(100, int(done * 100 / self.instance_count))


class Delivery(models.TextChoices):
    """What became of one instance of a transfer (its ledger row)."""

    PENDING = "pending", "Still to send"
    ACKNOWLEDGED = "acknowledged", "Acknowledged (Success)"
    WARNING = "warning", "Acknowledged with a warning"
    REFUSED = "refused", "Refused by the destination"
    UNSENDABLE = "unsendable", "Could not be sent (damaged file, or no copy the destination accepts could be made)"
    HELD_BACK = "held_back", "Held back: a change of this send keeps it from this destination"


DELIVERED = (Delivery.ACKNOWLEDGED, Delivery.WARNING)
TO_SEND = (Delivery.PENDING, Delivery.REFUSED)  # what a later attempt sends


class TransferInstance(models.Model):
    """The ledger of a transfer: one row per instance of its series, in the order it is sent.

    Written in batches by the sending worker (one ``UPDATE`` per outcome and progress tick), and
    read by every later attempt, which sends only what the destination has not acknowledged.
    """

    # Found through the unique (transfer, SOP Instance UID) index, whose first column it is: an
    # index of its own would only cost every insert (3-5 ms per 1,000 rows). No constraint in the
    # database: PostgreSQL checks a deferred foreign key row by row at the commit, 9-11 ms per
    # 1,000 rows of every /send/, and the rows are made by one INSERT ... SELECT in the transaction
    # that creates their transfer, which is never deleted (the audit keeps it; Django's cascade
    # still removes the ledger with it).
    transfer = models.ForeignKey(
        TransferLog, on_delete=models.CASCADE, related_name="ledger", db_index=False, db_constraint=False
    )
    position = models.PositiveIntegerField()
    sop_instance_uid = models.CharField(max_length=64)
    relative_path = models.CharField(max_length=255)  # in the import's directory
    outcome = models.CharField(max_length=12, choices=Delivery.choices, default=Delivery.PENDING)
    dimse_status = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    # Sent from a staged copy (issue 15): the stored syntax and the copy's when it was transcoded
    # (both blank when the stored file itself was sent), and what the send's changes did to it.
    transcoded_from = models.CharField(max_length=64, blank=True, default="", db_default="")
    transcoded_to = models.CharField(max_length=64, blank=True, default="", db_default="")
    changes = models.JSONField(null=True, blank=True)
    # The instance's size as imported, copied at creation, so the bytes delivered are a sum over
    # the ledger alone (null in ledgers made before it existed).
    size_bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["transfer", "position"]
        constraints = [
            models.UniqueConstraint(fields=["transfer", "sop_instance_uid"], name="ledger_unique_sop_per_transfer"),
        ]
        # No index on the outcome: a transfer's rows are found by the transfer (a few thousand at
        # most), and an outcome that is in no index lets PostgreSQL update the row in place (a HOT
        # update, in the free half of its page: migration 0012's fillfactor). With the index, the
        # ledger of 1,000 instances took 15 ms to insert and 25 ms to update; without, 7 and 2.

    def __str__(self) -> str:
        return f"ledger {self.transfer_id}/{self.position}"


class WorkerHeartbeat(models.Model):
    """One row per running ``db_worker`` process, refreshed while it lives."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"worker {self.worker_id}"


class DeidentificationKey(models.Model):
    """The installation's key for de-identification (one row): replacement UIDs, pseudonyms and
    date shifts are keyed hashes with it, so they are the same on every worker and every send.
    In the database, not in DATA_DIR, because workers on several machines share the database."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return "de-identification key"


class PatientPseudonym(models.Model):
    """Which patient a pseudonym sent to a de-identifying destination stands for (admins only)."""

    pseudonym = models.CharField(max_length=64, unique=True)
    patient_id = models.CharField(max_length=64, blank=True, default="")
    issuer_of_patient_id = models.CharField(max_length=64, blank=True, default="")
    patient_name = models.CharField(max_length=324, blank=True, default="")
    first_transfer = models.ForeignKey(TransferLog, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"pseudonym {self.pseudonym}"
