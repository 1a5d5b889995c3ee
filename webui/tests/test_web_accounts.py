"""The web page's accounts, end to end in Chromium: an admin's first steps, the users page, the
forced and the voluntary password change, and what an auditor sees."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import AbstractUser, User
from playwright.sync_api import expect

from authentication.models import Account, LoginSession, Role
from authentication.tests.helpers import refresh
from conftest import PASSWORD
from destinations.models import Destination
from destinations.services import destination_delete
from dicom_api.models import Action, TransferLog
from dicom_api.tests.logs_helpers import make_entry
from webui.tests import test_web_e2e
from webui.tests.test_web_e2e import Screen

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

# The browser and the page of the end-to-end tests.
browser = test_web_e2e.browser
screen = test_web_e2e.screen

FIRST = "carols-first-password"
OWN = "carols-very-own-secret"


def test_an_admin_adds_a_user_changes_the_role_deactivates_and_resets(screen: Screen, admin_user: AbstractUser) -> None:
    page = screen.page
    screen.login("root")
    # No destination yet: the admin is told how to add one.
    notice = page.locator("#first-steps")
    expect(notice).to_be_visible()
    expect(notice.get_by_role("button", name="Add the first destination")).to_be_visible()
    screen.shot("first-steps")
    notice.get_by_role("button", name="Add the first destination").click()
    expect(page.locator("#destination-dialog")).to_be_visible()
    page.locator("#destination-dialog").get_by_role("button", name="Cancel").click()

    page.get_by_role("link", name="Users").click()
    expect(page.locator("#users tbody tr")).to_have_count(1)
    page.get_by_role("button", name="New user").click()
    dialog = page.locator("#user-dialog")
    dialog.get_by_label("Username").fill("carol")
    dialog.get_by_label("First password").fill("123")
    dialog.get_by_label("First name").fill("Carol")
    dialog.get_by_label("Role").select_option("auditor")
    dialog.get_by_role("button", name="Save").click()
    # The API's message lands next to its field; nothing is created.
    expect(dialog.locator("#u-password-error")).to_contain_text("too short")
    assert not User.objects.filter(username="carol").exists()
    dialog.get_by_label("First password").fill(FIRST)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    row = page.locator("#users tbody tr[data-user=carol]")
    expect(row.locator(".role-cell")).to_have_text("Auditor")
    expect(row.locator(".active-cell")).to_have_text("Yes (new password pending)")
    screen.shot("users")

    row.get_by_role("button", name="Edit carol").click()
    dialog.get_by_label("Role").select_option("operator")
    dialog.get_by_label("Email").fill("carol@example.org")
    dialog.get_by_role("button", name="Save").click()
    expect(row.locator(".role-cell")).to_have_text("Operator")
    carol = User.objects.get(username="carol")
    assert (Account.objects.get(user=carol).role, carol.email) == (Role.OPERATOR, "carol@example.org")

    row.get_by_role("button", name="Deactivate carol").click()
    expect(row.locator(".active-cell")).to_have_text("No")
    carol.refresh_from_db()
    assert carol.is_active is False
    row.get_by_role("button", name="Reactivate carol").click()
    expect(row.locator(".active-cell")).not_to_have_text("No")

    row.get_by_role("button", name="Reset password of carol").click()
    reset = page.locator("#reset-dialog")
    reset.get_by_label("Temporary password").fill("temporary-for-carol-1")
    reset.get_by_role("button", name="Reset password").click()
    expect(reset).to_be_hidden()
    carol.refresh_from_db()
    assert carol.check_password("temporary-for-carol-1")
    # An admin can't deactivate themselves from here either.
    expect(
        page.locator("#users tbody tr[data-user=root]").get_by_role("button", name="Deactivate root")
    ).to_be_disabled()
    # Nor change their own role, and the dialog says why.
    page.locator("#users tbody tr[data-user=root]").get_by_role("button", name="Edit root").click()
    expect(dialog.get_by_label("Role")).to_be_disabled()
    expect(dialog.locator("#u-role-hint")).to_have_text(
        "Your own role can't be changed here: another admin can change it."
    )
    dialog.get_by_role("button", name="Cancel").click()
    row.get_by_role("button", name="Edit carol").click()
    expect(dialog.locator("#u-role-hint")).to_be_hidden()
    dialog.get_by_role("button", name="Cancel").click()
    actions = list(
        TransferLog.objects.filter(user=admin_user).exclude(action=Action.LOGIN).values_list("action", flat=True)
    )
    assert sorted(actions) == sorted(["user_create", "user_update", "user_update", "user_update", "password_reset"])


def test_a_new_user_must_choose_a_password_at_first_sign_in(screen: Screen, admin_user: AbstractUser) -> None:
    carol = User.objects.create_user("carol", password=FIRST)
    Account.objects.create(user=carol, role=Role.OPERATOR, must_change_password=True)
    page = screen.page
    screen.login("carol", FIRST)
    view = page.locator("#view-password")
    expect(view).to_be_visible()
    expect(page.locator("#password-forced")).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    expect(page.locator("#password-cancel")).to_be_hidden()
    first_session = LoginSession.objects.get(user=carol).pk
    view.get_by_label("Current password").fill(FIRST)
    view.get_by_label("New password", exact=True).fill(OWN)
    view.get_by_label("New password again").fill("something else")
    view.get_by_role("button", name="Change password").click()
    expect(view.locator("#p-confirm-error")).to_have_text("The two new passwords differ.")
    view.get_by_label("New password again").fill(OWN)
    view.get_by_role("button", name="Change password").click()
    # Signed in again with the new password, now with the whole page.
    expect(page.locator("#account-message")).to_contain_text("Your password has been changed")
    expect(page.locator("#view-send")).to_be_visible()
    expect(page.locator("#nav")).to_be_visible()
    carol.refresh_from_db()
    assert carol.check_password(OWN)
    assert Account.objects.get(user=carol).must_change_password is False
    # The first session ended (and was pruned at the new sign-in); one new session is open.
    assert list(LoginSession.objects.filter(user=carol).values_list("ended_at", flat=True)) == [None]
    assert not LoginSession.objects.filter(pk=first_session).exists()


def test_a_user_changes_their_own_password_and_old_sessions_end(
    screen: Screen, user: AbstractUser, make_user: Callable[..., AbstractUser]
) -> None:
    from authentication.tests.helpers import tokens

    elsewhere = tokens("alice")  # another browser, signed in before the change
    page = screen.page
    screen.login("alice")
    page.get_by_role("button", name="Change password").click()
    view = page.locator("#view-password")
    view.get_by_label("Current password").fill("wrong")
    view.get_by_label("New password", exact=True).fill("alices-new-secret-8")
    view.get_by_label("New password again").fill("alices-new-secret-8")
    view.get_by_role("button", name="Change password").click()
    expect(view.locator("#p-current-error")).to_have_text("The current password is wrong.")
    view.get_by_label("Current password").fill(PASSWORD)
    view.get_by_role("button", name="Change password").click()
    expect(page.locator("#account-message")).to_contain_text("Your password has been changed")
    expect(page.locator("#view-send")).to_be_visible()
    screen.shot("password-changed")
    assert refresh(elsewhere["refresh"]).status_code == 401
    # The page goes on with its new session: the audit log loads.
    page.get_by_role("link", name="Audit log").click()
    # The wrong current password is in the audit log too (a guess with a stolen token would be).
    changes = page.locator("#log tbody tr").filter(has_text="password change")
    expect(changes).to_have_count(2)
    expect(changes.filter(has_text="failed")).to_have_count(1)
    expect(changes.filter(has_text="success")).to_have_count(1)
    expect(page.locator("#account-message")).to_be_hidden()


def test_an_auditor_sees_the_audit_log_of_everyone_and_no_send(
    screen: Screen, user: AbstractUser, make_user: Callable[..., AbstractUser]
) -> None:
    audrey = make_user("audrey")
    Account.objects.create(user=audrey, role=Role.AUDITOR)
    TransferLog.objects.create(user=user, username="alice", action=Action.SEND, status="success")
    page = screen.page
    screen.login("audrey")
    expect(page.locator("#view-log")).to_be_visible()
    expect(page.locator("#current-role")).to_have_text(" (auditor)")
    expect(page.get_by_role("link", name="Send")).to_be_hidden()
    expect(page.get_by_role("link", name="Destinations")).to_be_hidden()
    expect(page.locator("#f-user")).to_be_visible()
    expect(page.locator("#log tbody tr").filter(has_text="alice")).to_have_count(1)


def test_an_admin_finds_the_entries_of_each_deleted_destination_apart(
    screen: Screen, admin_user: AbstractUser, user: AbstractUser
) -> None:
    old = Destination.objects.create(name="Old PACS", ae_title="OLD", host="10.0.0.7")
    sent = [make_entry(user, destination=old, patient_name=f"OLD^{n}") for n in range(2)]
    destination_delete(destination=old, actor=admin_user)
    deleted_at = TransferLog.objects.get(action=Action.DESTINATION_DELETE).timestamp
    renewed = Destination.objects.create(name="Old PACS", ae_title="NEW", host="10.0.0.9")
    make_entry(user, destination=renewed, patient_name="NEW^ONE")
    page = screen.page
    screen.login("root")
    page.get_by_role("link", name="Audit log").click()
    select = page.locator("#f-destination")
    option = select.locator("optgroup[label=Deleted] option")
    expect(option).to_have_count(1)
    expect(option).to_have_text(f"Old PACS (deleted {deleted_at:%Y-%m-%d})")  # the page's clock is UTC
    select.select_option(label=option.text_content())
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("#log tbody tr")
    expect(rows).to_have_count(len(sent) + 1)  # and the deletion's own entry
    expect(rows.filter(has_text="NEW, ONE")).to_have_count(0)
    expect(rows.filter(has_text="OLD, 0")).to_contain_text("Old PACS (deleted)")
    screen.shot("audit-deleted-destination")
    # Today's destination of that name is the other option.
    select.select_option(label="Old PACS")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("NEW, ONE")

    # Deleted in turn while chosen: still chosen, among the deleted, and still apart from the first.
    renewed_id = renewed.pk
    renewed.delete()  # without an audit entry (the ORM): no date to tell them apart, so its id
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name="Audit log").click()
    expect(option).to_have_count(2)
    expect(select.locator("option:checked")).to_have_text(f"Old PACS (deleted, id {renewed_id})")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("NEW, ONE")
