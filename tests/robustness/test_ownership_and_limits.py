"""User A can't read, send, cancel or retry user B's imports, transfers or audit entries; lists are capped."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Action, ImportSession, Status, TransferLog
from dicom_api.services.transfers import transfers_create
from testsupport.dicom_data import generate_series, import_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def bobs(other_user: User, tmp_path: Path) -> dict[str, object]:
    """Bob's import, one failed and one pending transfer of it, and his login entry."""
    destination = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=11112)
    series = generate_series(tmp_path / "bob", 1, patient_name="BOB^PRIVATE", patient_id="BOB-0001")
    session = import_files(other_user, series.files)
    failed, pending = (
        transfers_create(
            user=other_user,
            import_id=session.pk,
            series_instance_uids=[series.series_instance_uid],
            destination_ids=[destination.pk],
            resend=True,  # the same series and destination twice, on purpose
        )[0]
        for _ in range(2)
    )
    failed.status = Status.FAILED
    failed.save(update_fields=["status"])
    login = TransferLog.objects.create(action=Action.LOGIN, status=Status.SUCCESS, user=other_user, username="bob")
    return {"import": session, "series": series.series_instance_uid, "destination": destination,
            "failed": failed, "pending": pending, "login": login}  # fmt: skip


@pytest.mark.parametrize("who", ["client_user", "client_admin"])
def test_someone_elses_import_is_404_for_a_user_and_an_admin(
    who: str, bobs: dict[str, object], request: pytest.FixtureRequest
) -> None:
    client: APIClient = request.getfixturevalue(who)
    session = bobs["import"]
    assert isinstance(session, ImportSession)
    url = f"/api/dicom/imports/{session.pk}/"
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404
    assert ImportSession.objects.filter(pk=session.pk).exists()
    assert session.directory.is_dir()


def test_someone_elses_import_can_not_be_sent(client_user: APIClient, bobs: dict[str, object]) -> None:
    destination = bobs["destination"]
    assert isinstance(destination, Destination)
    body = {
        "import_id": str(bobs["import"].pk),  # type: ignore[attr-defined]
        "series_instance_uids": [bobs["series"]],
        "destination_ids": [destination.pk],
    }
    before = TransferLog.objects.count()
    response = client_user.post("/api/dicom/send/", body, format="json")
    # shared/API.md: a foreign import is a 400 naming the field, exactly like an unknown one.
    assert response.status_code == 400
    assert "import_id" in response.json()
    assert TransferLog.objects.count() == before


def test_someone_elses_transfers_can_not_be_read_cancelled_or_retried(
    client_user: APIClient, bobs: dict[str, object]
) -> None:
    failed, pending = bobs["failed"], bobs["pending"]
    assert isinstance(failed, TransferLog) and isinstance(pending, TransferLog)
    assert client_user.post(f"/api/dicom/transfers/{pending.pk}/cancel/").status_code == 404
    assert client_user.post(f"/api/dicom/transfers/{failed.pk}/retry/").status_code == 404
    assert client_user.get(f"/api/dicom/status/?ids={pending.pk}").status_code == 404
    assert client_user.get("/api/dicom/status/").json() == {"transfers": []}
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
    assert TransferLog.objects.filter(action=Action.SEND).count() == 2


def test_someone_elses_audit_entries_are_404_and_never_listed(
    client_user: APIClient, client_admin: APIClient, bobs: dict[str, object]
) -> None:
    ids = [bobs[key].pk for key in ("failed", "pending", "login")]  # type: ignore[attr-defined]
    for pk in ids:
        assert client_user.get(f"/api/dicom/logs/{pk}/").status_code == 404
    for query in ("", "?user=bob", "?search=BOB-0001", "?patient_id=BOB-0001", "?format=csv"):
        response = client_user.get(f"/api/dicom/logs/{query}")
        assert response.status_code == 200, query
        text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
        assert "BOB" not in text and "bob" not in text, query
    # Admins read everyone's entries.
    assert all(client_admin.get(f"/api/dicom/logs/{pk}/").status_code == 200 for pk in ids)


def test_log_page_size_is_capped_at_500(client_user: APIClient, user: User) -> None:
    TransferLog.objects.bulk_create(
        TransferLog(action=Action.LOGIN, status=Status.SUCCESS, user=user, username="alice") for _ in range(520)
    )
    for size in ("501", "100000", "99999999999999999999"):
        response = client_user.get(f"/api/dicom/logs/?page_size={size}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == 500, size
    assert len(client_user.get("/api/dicom/logs/").json()["results"]) == 50


def test_transfer_status_lists_are_capped(client_user: APIClient, user: User) -> None:
    TransferLog.objects.bulk_create(
        TransferLog(action=Action.SEND, status=Status.PENDING, user=user, username="alice") for _ in range(510)
    )
    assert len(client_user.get("/api/dicom/status/").json()["transfers"]) == 500
    ids = ",".join(str(n) for n in range(1, 502))
    response = client_user.get(f"/api/dicom/status/?ids={ids}")
    assert response.status_code == 400
    assert "ids" in response.json()
