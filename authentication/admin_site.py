"""The Django admin's login is no side door: the same throttle and the same audit as the API's."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from authentication.audit import AccountAction, Outcome, audit
from authentication.roles import must_change_password
from authentication.services import login_attempt_admit
from authentication.throttle import LoginThrottledError, login_attempt_reserve, login_attempts_forget
from dicom_transfer.clients import client_address

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CHANGE_FIRST_MESSAGE = (
    "Choose your own password first: sign in to the web page (/), which asks for a new one, "
    "then come back to the Django admin."
)


def _throttled(error: LoginThrottledError) -> HttpResponse:
    return HttpResponse(
        error.message,
        status=429,
        content_type="text/plain; charset=utf-8",
        headers={"Retry-After": str(error.retry_after)},
    )


class PasswordChangedAdminForm(AdminAuthenticationForm):
    """The admin's login form, refusing an account that must still change its temporary password."""

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if must_change_password(user):
            raise ValidationError(CHANGE_FIRST_MESSAGE, code="password_change_required")


class AuditedAdminSite(admin.AdminSite):
    login_form = PasswordChangedAdminForm

    def has_permission(self, request: HttpRequest) -> bool:
        """Staff, and not waiting to change a temporary password (as the API's ``RolePolicy``)."""
        return super().has_permission(request) and not must_change_password(request.user)

    def password_change(  # type: ignore[override]  # a 429 is no TemplateResponse
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Django's own form, with the current password throttled and audited like the API's."""
        if request.method != "POST" or not request.user.is_authenticated:
            return super().password_change(request, extra_context)
        try:
            login_attempt_reserve(username=request.user.get_username(), address=client_address(request))
        except LoginThrottledError as e:
            if e.first_refusal:
                self._password_audit(request, Outcome.FAILED, "Throttled: too many attempts.")
            return _throttled(e)
        response = super().password_change(request, extra_context)
        if response.status_code == 302:
            login_attempts_forget(username=request.user.get_username())
            self._password_audit(request, Outcome.SUCCESS, "")
        else:
            form = (getattr(response, "context_data", None) or {}).get("form")
            if form is not None and "old_password" in form.errors:
                self._password_audit(request, Outcome.FAILED, "The current password is wrong.")
        return response

    @staticmethod
    def _password_audit(request: HttpRequest, status: Outcome, error: str) -> None:
        fields: dict[str, Any] = {"details": {"via": "admin"}}
        if error:
            fields["error_message"] = error
        audit(action=AccountAction.PASSWORD_CHANGE, status=status, user=request.user, request=request, **fields)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method != "POST":
            return super().login(request, extra_context)
        from django.contrib.auth.models import User

        raw = str(request.POST.get("username", ""))
        if "\x00" in raw or "\x00" in str(request.POST.get("password", "")):
            return HttpResponseBadRequest("Null characters are not allowed.", content_type="text/plain; charset=utf-8")
        # What the login form authenticates (UsernameField: NFKC, stripped): one name for the
        # throttle, the audit's user and the reset of the count after a success.
        username = unicodedata.normalize("NFKC", raw).strip()[:150]
        known = User.objects.filter(username=username).first()
        try:
            login_attempt_admit(username=username, known=known, request=request, details={"via": "admin"})
        except LoginThrottledError as e:
            return _throttled(e)
        response = super().login(request, extra_context)
        signed_in = response.status_code == 302 and request.user.is_authenticated
        if signed_in:
            login_attempts_forget(username=username)
            audit(
                action=AccountAction.LOGIN,
                status=Outcome.SUCCESS,
                user=request.user,
                request=request,
                details={"via": "admin"},
            )
        else:
            audit(
                action=AccountAction.LOGIN,
                status=Outcome.FAILED,
                user=known,
                username=username,
                request=request,
                error_message="Wrong username or password, or not an active staff account.",
                details={"via": "admin"},
            )
        return response
