"""Account events announced by ``authentication`` land in the audit trail, and none is lost."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from authentication.audit import AccountAction, AuditNotRecordedError, Outcome, account_event, audit
from dicom_api.audit import record_account_event
from dicom_api.models import Action, TransferLog

pytestmark = pytest.mark.django_db


def test_every_account_action_is_an_audit_action() -> None:
    assert {action.value for action in AccountAction} <= {action.value for action in Action}


def test_an_account_event_is_one_audit_entry(user: User) -> None:
    audit(action=AccountAction.PASSWORD_CHANGE, status=Outcome.SUCCESS, user=user, details={"why": "test"})
    entry = TransferLog.objects.get()
    assert (entry.action, entry.status, entry.user, entry.username, entry.details) == (
        "password_change",
        "success",
        user,
        user.username,
        {"why": "test"},
    )


def test_an_event_nobody_records_is_an_error_not_a_gap(user: User) -> None:
    account_event.disconnect(dispatch_uid="dicom_api.audit.record_account_event")
    try:
        with pytest.raises(AuditNotRecordedError):
            audit(action=AccountAction.LOGOUT, status=Outcome.SUCCESS, user=user)
    finally:
        account_event.connect(record_account_event, dispatch_uid="dicom_api.audit.record_account_event")
    assert not TransferLog.objects.exists()
