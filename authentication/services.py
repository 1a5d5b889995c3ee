"""Signing in and out, one's own password, and the admins' management of users.

Every change to an account is written to the audit trail (``TransferLog``): the entry's user is
who made the change, ``details`` names the account and what changed. A password change or reset
and a deactivation end every session of that account.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.models import User, update_last_login
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest

from authentication.audit import AccountAction, Outcome, audit
from authentication.models import Account, EndReason, Role
from authentication.roles import role_of
from authentication.sessions import TokenPair, session_end, session_start, sessions_end_all
from authentication.throttle import LoginThrottledError, login_attempt_reserve, login_attempts_forget
from dicom_transfer.clients import client_address
from dicom_transfer.exceptions import ConflictError, InvalidInputError, NotAuthenticatedError

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "No active account found with the given credentials."


def _validate_password(password: str, user: User, field: str) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as e:
        raise InvalidInputError(" ".join(e.messages), field=field) from None


def login_attempt_admit(
    *, username: str, known: User | None, request: HttpRequest | None, details: dict[str, Any] | None = None
) -> None:
    """Count one sign-in attempt (API or Django admin) against the throttle; raises
    ``LoginThrottledError`` beyond it, audited on the first refusal of each window."""
    try:
        login_attempt_reserve(username=username, address=client_address(request))
    except LoginThrottledError as e:
        if e.first_refusal:
            audit(
                action=AccountAction.LOGIN,
                status=Outcome.FAILED,
                user=known,
                username=username,
                request=request,
                error_message="Throttled: too many sign-in attempts.",
                **({"details": details} if details else {}),
            )
        logger.info("login throttled (user id %s)", known.pk if known else "unknown")
        raise


def login(*, username: str, password: str, request: HttpRequest | None) -> tuple[User, TokenPair]:
    """Check the credentials (after the throttle) and start a session."""
    known = User.objects.filter(username=username).first()
    login_attempt_admit(username=username, known=known, request=request)
    user = authenticate(request, username=username, password=password)
    if not isinstance(user, User) or not user.is_active:
        audit(
            action=AccountAction.LOGIN,
            status=Outcome.FAILED,
            user=known,
            username=username,
            request=request,
            error_message="Wrong username or password, or the account is inactive.",
        )
        logger.info("login failed (user id %s)", known.pk if known else "unknown")
        raise NotAuthenticatedError(BAD_CREDENTIALS)
    login_attempts_forget(username=username)
    pair = session_start(user=user)
    update_last_login(User, user)
    audit(action=AccountAction.LOGIN, status=Outcome.SUCCESS, user=user, request=request)
    logger.info("login succeeded (user id %s)", user.pk)
    return user, pair


def logout(*, user: User, refresh: str, request: HttpRequest | None) -> None:
    session_end(refresh=refresh, user=user)
    audit(action=AccountAction.LOGOUT, status=Outcome.SUCCESS, user=user, request=request)
    logger.info("logout (user id %s)", user.pk)


def _account(user: User) -> Account:
    account, _ = Account.objects.get_or_create(user=user)
    return account


def current_password_check(*, user: User, password: str, request: HttpRequest | None) -> str:
    """Check one's current password before a change, throttled and audited like a sign-in.

    The attempt counts on the login throttle's key of the username (and the address), so a stolen
    access token can't try passwords faster than the login form. Returns the stored hash that
    was checked. Runs outside any transaction: the count and the audit of a failure stay.
    """
    try:
        login_attempt_reserve(username=user.get_username(), address=client_address(request))
    except LoginThrottledError as e:
        if e.first_refusal:
            audit(
                action=AccountAction.PASSWORD_CHANGE,
                status=Outcome.FAILED,
                user=user,
                request=request,
                error_message="Throttled: too many attempts.",
            )
        raise
    stored = User.objects.get(pk=user.pk)
    if not stored.check_password(password):
        audit(
            action=AccountAction.PASSWORD_CHANGE,
            status=Outcome.FAILED,
            user=user,
            request=request,
            error_message="The current password is wrong.",
        )
        logger.info("password change refused: wrong current password (user id %s)", user.pk)
        raise InvalidInputError("The current password is wrong.", field="current_password")
    login_attempts_forget(username=user.get_username())
    return stored.password


def profile_update(
    *,
    user: User,
    request: HttpRequest | None,
    current_password: str | None = None,
    new_password: str | None = None,
    **fields: str,
) -> User:
    """One's own names, email and password. A new password ends every session of the user.

    ``user`` is the request's (read when the request began): the row is read again, locked, and only
    the fields given are written, so a change an admin made meanwhile (deactivation, role, reset
    password) is never written back.
    """
    checked_hash = None
    if new_password is None and current_password is not None:
        raise InvalidInputError("Give the new password too.", field="new_password")
    if new_password is not None:
        if not current_password:
            raise InvalidInputError("The current password is required.", field="current_password")
        checked_hash = current_password_check(user=user, password=current_password, request=request)
    with transaction.atomic():
        return _profile_write(
            user=user,
            request=request,
            checked_hash=checked_hash,
            new_password=new_password,
            current_password=current_password,
            fields=fields,
        )


def _profile_write(
    *,
    user: User,
    request: HttpRequest | None,
    checked_hash: str | None,
    new_password: str | None,
    current_password: str | None,
    fields: dict[str, str],
) -> User:
    user = User.objects.select_for_update().get(pk=user.pk)
    if new_password is not None:
        if user.password != checked_hash:  # changed (or reset) since it was checked: check again
            raise InvalidInputError("The current password is wrong.", field="current_password")
        if new_password == current_password:
            raise InvalidInputError("Choose a password different from the current one.", field="new_password")
        _validate_password(new_password, user, "new_password")
    changed = [name for name in ("email", "first_name", "last_name") if name in fields]
    for name in changed:
        setattr(user, name, fields[name])
    if new_password is not None:
        user.set_password(new_password)
        changed.append("password")
    if changed:
        user.save(update_fields=changed)
    if new_password is not None:
        account = _account(user)
        if account.must_change_password:
            account.must_change_password = False
            account.save(update_fields=["must_change_password"])
        user.account = account  # type: ignore[attr-defined]  # the cached reverse one-to-one
        sessions_end_all(user=user, reason=EndReason.PASSWORD_CHANGE)
        audit(action=AccountAction.PASSWORD_CHANGE, status=Outcome.SUCCESS, user=user, request=request)
        logger.info("password changed (user id %s)", user.pk)
    return user


def _target(user: User) -> dict[str, Any]:
    return {"target_user_id": user.pk, "target_username": user.get_username()}


def _apply_role(user: User, role: Role) -> None:
    user.is_staff = user.is_superuser = role == Role.ADMIN


@transaction.atomic
def user_create(
    *,
    actor: User,
    request: HttpRequest | None,
    username: str,
    password: str,
    role: Role = Role.OPERATOR,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """A new account; its user must choose their own password at first sign-in."""
    role = Role(role)
    if User.objects.filter(username__iexact=username).exists():
        raise InvalidInputError("A user with that username already exists.", field="username")
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    _validate_password(password, user, "password")
    _apply_role(user, role)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise InvalidInputError("A user with that username already exists.", field="username") from None
    Account.objects.create(user=user, role=role, must_change_password=True)
    audit(
        action=AccountAction.USER_CREATE,
        status=Outcome.SUCCESS,
        user=actor,
        request=request,
        details={**_target(user), "role": role.value, "is_active": True},
    )
    logger.info("user id %s created by user id %s", user.pk, actor.pk)
    return user


@transaction.atomic
def user_update(*, actor: User, request: HttpRequest | None, user: User, **changes: Any) -> User:
    """Role, active flag, email and names. Deactivation ends the user's sessions.

    The last active admin can't be demoted or deactivated (409). Every active admin is locked
    first, in one order, so two admins demoting each other at once can't both succeed.
    """
    demotes = ("role" in changes and Role(changes["role"]) != Role.ADMIN) or changes.get("is_active") is False
    if demotes:
        admins = User.objects.select_for_update().filter(Q(is_staff=True, is_active=True) | Q(pk=user.pk))
        list(admins.order_by("pk").values_list("pk", flat=True))
    user = User.objects.select_for_update().get(pk=user.pk)
    account = _account(user)
    before = {"role": role_of(user), "is_active": user.is_active}
    before.update({name: getattr(user, name) for name in ("email", "first_name", "last_name")})
    if user.pk == actor.pk:
        if changes.get("is_active") is False:
            raise ConflictError("You can't deactivate your own account.", field="is_active")
        if "role" in changes and changes["role"] != Role.ADMIN:
            raise ConflictError("You can't take away your own admin role.", field="role")
    if demotes and user.is_staff and user.is_active:
        others = User.objects.filter(is_staff=True, is_active=True).exclude(pk=user.pk)
        if not others.exists():
            raise ConflictError(
                "This is the last active admin: make another user admin first.",
                field="role" if "role" in changes else "is_active",
            )
    if "role" in changes:
        role = Role(changes["role"])
        _apply_role(user, role)
        account.role = role
        account.save(update_fields=["role"])
    written = ["is_staff", "is_superuser"] if "role" in changes else []
    for name in ("is_active", "email", "first_name", "last_name"):
        if name in changes:
            setattr(user, name, changes[name])
            written.append(name)
    if written:
        user.save(update_fields=written)
    after = {"role": role_of(user), "is_active": user.is_active}
    after.update({name: getattr(user, name) for name in ("email", "first_name", "last_name")})
    changed = {name: [before[name], after[name]] for name in before if before[name] != after[name]}
    if before["is_active"] and not user.is_active:
        sessions_end_all(user=user, reason=EndReason.DEACTIVATED)
    if changed:
        audit(
            action=AccountAction.USER_UPDATE,
            status=Outcome.SUCCESS,
            user=actor,
            request=request,
            details={**_target(user), "changes": changed},
        )
        logger.info("user id %s changed by user id %s: %s", user.pk, actor.pk, ", ".join(sorted(changed)))
    return user


@transaction.atomic
def user_reset_password(*, actor: User, request: HttpRequest | None, user: User, password: str) -> User:
    """A temporary password chosen by an admin: the user must change it at sign-in; sessions end.

    Refused for a directory user (with directory login on, an account without a usable password):
    their password is the directory's, and a local one would make the account a local one.
    """
    if getattr(settings, "AUTH_LDAP_SERVER_URI", "") and not user.has_usable_password():
        raise ConflictError(
            "This user signs in with the directory: change their password in the directory.", field="password"
        )
    _validate_password(password, user, "password")
    sessions_end_all(user=user, reason=EndReason.PASSWORD_RESET)  # before the save's own (password_change)
    user.set_password(password)
    user.save(update_fields=["password"])
    account = _account(user)
    account.must_change_password = True
    account.save(update_fields=["must_change_password"])
    user.account = account  # type: ignore[attr-defined]  # the cached reverse one-to-one
    audit(
        action=AccountAction.PASSWORD_RESET, status=Outcome.SUCCESS, user=actor, request=request, details=_target(user)
    )
    logger.info("password of user id %s reset by user id %s", user.pk, actor.pk)
    return user


__all__ = [
    "BAD_CREDENTIALS",
    "NotAuthenticatedError",
    "current_password_check",
    "login",
    "logout",
    "profile_update",
    "user_create",
    "user_reset_password",
    "user_update",
]
