"""Account events for the audit trail, announced, not written, by this app.

The audit trail (``TransferLog``) belongs to ``dicom_api``, which sits above this app (its views use
the roles and permissions defined here). So that the two apps do not import each other, this app
announces what happened to an account with the ``account_event`` signal, and ``dicom_api``
records it (``dicom_api.audit.record_account_event``, connected in ``DicomApiConfig.ready``). The
receiver runs synchronously, in the caller's transaction; an event nobody recorded is an error,
never a silent gap in the audit trail.
"""

from __future__ import annotations

import enum
from typing import Any

from django.dispatch import Signal
from django.http import HttpRequest

account_event = Signal()


class AccountAction(enum.StrEnum):
    """The audit actions of this app (values of ``dicom_api.models.Action``)."""

    LOGIN = "login"
    LOGOUT = "logout"
    PASSWORD_CHANGE = "password_change"  # noqa: S105 (an action name)
    PASSWORD_RESET = "password_reset"  # noqa: S105 (an action name)
    USER_CREATE = "user_create"
    USER_UPDATE = "user_update"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILED = "failed"


class AuditNotRecordedError(RuntimeError):
    """No audit trail is listening: the event would be lost."""


def audit(
    *, action: AccountAction, status: Outcome, user: Any, request: HttpRequest | None = None, **fields: Any
) -> None:
    """Have the audit trail record an account event (``fields``: ``username``, ``error_message``,
    ``details``, as the audit entry has them)."""
    responses = account_event.send(
        sender=AccountAction, action=action.value, status=status.value, user=user, request=request, fields=fields
    )
    if not responses:
        raise AuditNotRecordedError(f"no audit trail recorded the account event {action.value!r}")
