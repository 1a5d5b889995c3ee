"""Sessions end whenever a user's password changes or the user is deactivated, however it happens.

The services end them themselves (with the precise reason: a reset, a change, a deactivation);
these receivers catch every other path: the Django admin, ``manage.py changepassword``, the shell.
They compare the values about to be saved with the stored ones, so a later reactivation never
brings an old session back: it was ended, not just refused while the account was inactive.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save

from authentication.models import EndReason
from authentication.sessions import sessions_end_all

_WATCHED = frozenset({"is_active", "password"})


def _compare_with_stored(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **_: Any) -> None:
    instance._sessions_end_reason = None
    if raw or instance.pk is None or (update_fields is not None and not _WATCHED & set(update_fields)):
        return
    stored = sender._default_manager.filter(pk=instance.pk).values_list("is_active", "password").first()
    if stored is None:
        return
    was_active, password = stored
    if was_active and not instance.is_active:
        instance._sessions_end_reason = EndReason.DEACTIVATED
    elif password != instance.password:
        instance._sessions_end_reason = EndReason.PASSWORD_CHANGE


def _end_sessions(sender: Any, instance: Any, created: bool = False, raw: bool = False, **_: Any) -> None:
    reason = getattr(instance, "_sessions_end_reason", None)
    if reason is not None and not created and not raw:
        instance._sessions_end_reason = None
        sessions_end_all(user=instance, reason=reason)


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(_compare_with_stored, sender=user_model, dispatch_uid="authentication.sessions.pre_save")
    post_save.connect(_end_sessions, sender=user_model, dispatch_uid="authentication.sessions.post_save")
