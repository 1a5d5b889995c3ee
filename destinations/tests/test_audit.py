"""Every change of a destination is an audit entry of the admin who made it: added (its settings),
changed (each changed setting before and after), deleted (its last settings), through the API
and the Django admin. Secrets and certificates are never in an entry, only that they were
replaced; a change that no audit trail recorded is not made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db.models.query import QuerySet
from django.test import Client
from rest_framework.test import APIClient

from conftest import PASSWORD
from destinations.audit import destination_event
from destinations.models import Destination
from destinations.tests.test_tls import VALID as TLS_VALID
from destinations.tests.test_tls import Made, tls
from dicom_api.models import Action, TransferLog

pytestmark = pytest.mark.django_db

URL = "/api/destinations/"
SECRET = "s3cret-pw-0f9e"
WEB = {
    "name": "Cloud",
    "kind": "dicomweb",
    "url": "https://dicom.example.org/dicom-web/",
    "auth": {"type": "basic", "username": "sender", "password": SECRET},
}


def _entries(client: APIClient, action: str) -> list[dict[str, Any]]:
    response = client.get("/api/dicom/logs/", {"action": action})
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def _everything_written(client: APIClient) -> str:
    """The audit trail as the API answers it (list, each entry, the CSV) and as stored."""
    texts = [client.get("/api/dicom/logs/").content.decode()]
    texts += [client.get(f"/api/dicom/logs/{log.pk}/").content.decode() for log in TransferLog.objects.all()]
    texts.append(b"".join(client.get("/api/dicom/logs/", {"format": "csv"}).streaming_content).decode())
    texts += [json.dumps(list(TransferLog.objects.values()), default=str)]
    return "\n".join(texts)


def test_added_changed_and_deleted_each_make_one_entry_of_the_admin(
    client_admin: APIClient, admin_user: AbstractUser
) -> None:
    response = client_admin.post(URL, WEB, format="json")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    [added] = _entries(client_admin, "destination_create")
    assert (added["user"]["username"], added["status"], added["destination"]["name"]) == ("root", "success", "Cloud")
    assert added["details"]["settings"]["url"] == "https://dicom.example.org/dicom-web"
    assert added["details"]["settings"]["transfer_syntax_policy"] == "as-stored"
    assert added["details"]["replaced"] == ["auth_secret"]

    changes = {
        "transfer_syntax_policy": "uncompressed",
        "deidentification": {"profile": "basic"},
        "auth": {"type": "basic", "username": "sender", "password": SECRET + "-new"},
    }
    response = client_admin.patch(f"{URL}{pk}/", changes, format="json")
    assert response.status_code == 200, response.content
    [changed] = _entries(client_admin, "destination_update")
    assert changed["user"]["username"] == "root"
    assert changed["details"]["changes"]["transfer_syntax_policy"] == ["as-stored", "uncompressed"]
    assert changed["details"]["changes"]["deidentification"][0] is None
    assert changed["details"]["changes"]["deidentification"][1]["profile"] == "basic"
    assert changed["details"]["replaced"] == ["auth_secret"]
    assert "url" not in changed["details"]["changes"]  # only what changed

    # The same values again change nothing, and make no entry.
    assert (
        client_admin.patch(f"{URL}{pk}/", {"transfer_syntax_policy": "uncompressed"}, format="json").status_code == 200
    )
    assert len(_entries(client_admin, "destination_update")) == 1

    assert client_admin.delete(f"{URL}{pk}/").status_code == 204
    [deleted] = _entries(client_admin, "destination_delete")
    assert (deleted["user"]["username"], deleted["destination"]) == (
        "root",
        {**deleted["destination"], "name": "Cloud"},
    )
    assert deleted["destination"]["id"] is None  # the entry outlives it
    assert deleted["details"]["settings"]["transfer_syntax_policy"] == "uncompressed"

    written = _everything_written(client_admin)
    assert SECRET not in written and SECRET + "-new" not in written


def test_an_operator_changes_nothing_and_makes_no_entry(client_user: APIClient, make_destination: Any) -> None:
    destination = make_destination()
    assert client_user.patch(f"{URL}{destination.pk}/", {"port": 11113}, format="json").status_code == 403
    assert client_user.delete(f"{URL}{destination.pk}/").status_code == 403
    assert not TransferLog.objects.filter(action__startswith="destination_").exists()


def test_changes_in_the_django_admin_are_audited_too(admin_user: AbstractUser) -> None:
    client = Client()
    assert client.login(username="root", password=PASSWORD)
    form = {"name": "PACS", "ae_title": "PACS", "host": "10.0.0.5", "port": 104, "description": "", "enabled": True}
    assert client.post("/admin/destinations/destination/add/", form).status_code == 302
    destination = Destination.objects.get()
    assert (
        client.post(f"/admin/destinations/destination/{destination.pk}/change/", {**form, "port": 11112}).status_code
        == 302
    )
    assert client.post(f"/admin/destinations/destination/{destination.pk}/delete/", {"post": "yes"}).status_code == 302
    entries = list(TransferLog.objects.filter(action__startswith="destination_").order_by("pk"))
    assert [e.action for e in entries] == [
        Action.DESTINATION_CREATE,
        Action.DESTINATION_UPDATE,
        Action.DESTINATION_DELETE,
    ]
    assert {e.username for e in entries} == {"root"}
    assert entries[1].details == {"changes": {"port": [104, 11112]}, "via": "admin"}
    assert not Destination.objects.exists()


def test_a_change_no_audit_trail_records_is_not_made(client_admin: APIClient, make_destination: Any) -> None:
    destination = make_destination()
    receivers = destination_event.receivers
    destination_event.receivers = []
    try:
        with pytest.raises(RuntimeError, match="no audit trail recorded"):
            client_admin.patch(f"{URL}{destination.pk}/", {"port": 11113}, format="json")
        with pytest.raises(RuntimeError, match="no audit trail recorded"):
            client_admin.post(URL, {**WEB, "name": "Other"}, format="json")
    finally:
        destination_event.receivers = receivers
        destination_event.sender_receivers_cache.clear()
    destination.refresh_from_db()
    assert destination.port != 11113
    assert not Destination.objects.filter(name="Other").exists()


@pytest.mark.django_db(transaction=True)
def test_a_bulk_delete_in_the_django_admin_commits_its_entries_with_the_deletions_or_neither(
    admin_user: AbstractUser, make_destination: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = make_destination("A", ae_title="A"), make_destination("B", ae_title="B")
    client = Client(raise_request_exception=False)
    assert client.login(username="root", password=PASSWORD)
    real_delete = QuerySet.delete

    def failing_delete(self: QuerySet[Any]) -> Any:
        if self.model is Destination:
            raise RuntimeError("the database went away")
        return real_delete(self)

    bulk = {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"}
    with monkeypatch.context() as patched:
        patched.setattr(QuerySet, "delete", failing_delete)
        assert client.post("/admin/destinations/destination/", bulk).status_code == 500
    assert Destination.objects.count() == 2
    assert not TransferLog.objects.filter(action=Action.DESTINATION_DELETE).exists()
    assert client.post("/admin/destinations/destination/", bulk).status_code == 302
    assert not Destination.objects.exists()
    deleted = TransferLog.objects.filter(action=Action.DESTINATION_DELETE)
    assert sorted(deleted.values_list("destination_name", flat=True)) == ["A", "B"]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    return Made(tmp_path_factory.mktemp("pki"))


@pytest.mark.django_db(transaction=True)
def test_a_change_rolled_back_leaves_the_client_key_on_disk_as_it_was(client_admin: APIClient, made: Made) -> None:
    response = client_admin.post(URL, {**TLS_VALID, "tls": tls(made)}, format="json")
    assert response.status_code == 201, response.content
    destination = Destination.objects.get()
    key_file = Path(settings.TLS_DIR) / str(destination.pk) / "client.key"
    old_key = key_file.read_text()
    receivers = destination_event.receivers
    destination_event.receivers = []  # the audit trail fails: every change is rolled back
    destination_event.sender_receivers_cache.clear()
    try:
        other = tls(made, client_certificate=made.other.certificate_pem, client_key=made.other.key_pem)
        with pytest.raises(RuntimeError, match="no audit trail recorded"):
            client_admin.patch(f"{URL}{destination.pk}/", {"tls": other}, format="json")
        with pytest.raises(RuntimeError, match="no audit trail recorded"):
            client_admin.post(URL, {**TLS_VALID, "name": "Other", "tls": tls(made)}, format="json")
    finally:
        destination_event.receivers = receivers
        destination_event.sender_receivers_cache.clear()
    destination.refresh_from_db()
    assert destination.tls_client_certificate == made.client.certificate_pem
    assert key_file.read_text() == old_key  # not the other's key, which the database does not describe
    assert sorted(p.name for p in Path(settings.TLS_DIR).iterdir()) == [str(destination.pk)]  # no orphan key
