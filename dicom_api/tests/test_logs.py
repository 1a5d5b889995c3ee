"""GET /api/dicom/logs/ and /api/dicom/logs/{id}/: the audit trail, read-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.db import connection
from rest_framework.test import APIClient

from destinations.models import Destination
from destinations.services import destination_delete
from dicom_api import pagination
from dicom_api.models import Action, Status, TransferLog
from dicom_api.tests.logs_helpers import ids, make_entry

pytestmark = pytest.mark.django_db

URL = "/api/dicom/logs/"


@pytest.fixture
def pacs(db: None) -> Destination:
    return Destination.objects.create(name="PACS", ae_title="PACS_AE", host="10.0.0.5", port=11112)


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def test_it_shows_an_entry_with_every_field_of_the_contract(
    client_user: APIClient, user: AbstractUser, pacs: Destination
) -> None:
    entry = make_entry(
        user,
        at=datetime(2025, 3, 4, 10, 30, 15, 123000, tzinfo=UTC),
        destination=pacs,
        patient_name="DOE^JANE",
        patient_id="PID-1",
        study_instance_uid="1.2.3",
        series_instance_uid="1.2.3.4",
        series_description="AX T1",
        modality="MR",
        instance_count=120,
        instances_sent=119,
        instances_failed=1,
        attempt=2,
        error_message="1 instance refused",
        details={"attempts": [{"n": 1}]},
        completed_at=datetime(2025, 3, 4, 10, 31, tzinfo=UTC),
    )
    response = client_user.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["count_is_estimate"], body["next"], body["previous"]) == (1, False, None, None)
    expected = {
        "id": entry.pk,
        "user": {"id": user.pk, "username": "alice"},
        "action": "send",
        "timestamp": "2025-03-04T10:30:15.123000Z",
        "completed_at": "2025-03-04T10:31:00Z",
        "status": "success",
        "patient_name": "DOE^JANE",
        "patient_id": "PID-1",
        "study_instance_uid": "1.2.3",
        "series_instance_uid": "1.2.3.4",
        "series_description": "AX T1",
        "modality": "MR",
        "instance_count": 120,
        "instances_sent": 119,
        "instances_failed": 1,
        "attempt": 2,
        "destination": {
            "id": pacs.pk,
            "deleted": False,
            "name": "PACS",
            "ae_title": "PACS_AE",
            "host": "10.0.0.5",
            "port": 11112,
        },
        "error_message": "1 instance refused",
        "details": {"attempts": [{"n": 1}]},
        "client_address": None,
    }
    assert body["results"] == [expected]
    detail = client_user.get(f"{URL}{entry.pk}/")
    assert detail.status_code == 200
    assert detail.json() == expected


def test_an_entry_without_destination_shows_null(client_user: APIClient, user: AbstractUser) -> None:
    make_entry(user, action=Action.LOGIN)
    assert client_user.get(URL).json()["results"][0]["destination"] is None


def test_it_requires_authentication(anon_client: APIClient, user: AbstractUser) -> None:
    entry = make_entry(user)
    assert anon_client.get(URL).status_code == 401
    assert anon_client.get(f"{URL}{entry.pk}/").status_code == 401


def test_a_user_sees_only_their_own_entries(
    client_user: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    mine = make_entry(user)
    make_entry(other_user)
    make_entry(None, action=Action.LOGIN, status=Status.FAILED, username="intruder")
    assert ids(client_user.get(URL)) == [mine.pk]


def test_an_admin_sees_everyones_entries(client_admin: APIClient, user: AbstractUser, other_user: AbstractUser) -> None:
    entries = [make_entry(user), make_entry(other_user), make_entry(None, action=Action.LOGIN, username="x")]
    assert ids(client_admin.get(URL)) == [entry.pk for entry in reversed(entries)]


def test_another_users_entry_is_404_for_a_user_and_200_for_an_admin(
    client_user: APIClient, client_admin: APIClient, other_user: AbstractUser
) -> None:
    theirs = make_entry(other_user)
    response = client_user.get(f"{URL}{theirs.pk}/")
    assert response.status_code == 404
    assert "detail" in response.json()
    assert client_admin.get(f"{URL}{theirs.pk}/").status_code == 200


@pytest.mark.parametrize("pk", ["999999", str(2**70)])
def test_an_unknown_entry_is_404(client_admin: APIClient, pk: str) -> None:
    assert client_admin.get(f"{URL}{pk}/").status_code == 404


def test_query_string_filters_do_not_hide_an_entry_from_its_detail(client_user: APIClient, user: AbstractUser) -> None:
    entry = make_entry(user, status=Status.FAILED)
    assert client_user.get(f"{URL}{entry.pk}/?status=success").status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("who", ["client_user", "client_admin"])
def test_every_write_answers_405_and_changes_nothing(
    request: pytest.FixtureRequest, user: AbstractUser, method: str, who: str
) -> None:
    client: APIClient = request.getfixturevalue(who)
    entry = make_entry(user, status=Status.FAILED)
    body = {"status": "success", "action": "login"}
    for url in (URL, f"{URL}{entry.pk}/"):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 405, (method, url)
        assert "not allowed" in response.json()["detail"]
    entry.refresh_from_db()
    assert (entry.status, entry.action) == (Status.FAILED, Action.SEND)
    assert TransferLog.objects.count() == 1


# --- filters ---------------------------------------------------------------------------------


def test_it_filters_by_action_and_status(client_user: APIClient, user: AbstractUser) -> None:
    send_failed = make_entry(user, action=Action.SEND, status=Status.FAILED)
    make_entry(user, action=Action.SEND, status=Status.SUCCESS)
    login = make_entry(user, action=Action.LOGIN, status=Status.FAILED)
    assert ids(client_user.get(URL, {"action": "login"})) == [login.pk]
    assert ids(client_user.get(URL, {"status": "failed"})) == [login.pk, send_failed.pk]
    assert ids(client_user.get(URL, {"action": "send", "status": "failed"})) == [send_failed.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "burn"}, "action"),
        ({"status": "done"}, "status"),
        ({"destination": "abc"}, "destination"),
        ({"destination": "0"}, "destination"),
        ({"ordering": "password"}, "ordering"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_to": "2025-13-01"}, "date_to"),
        ({"date_to": "2025-02-30T10:00"}, "date_to"),
        ({"date_from": "2025-03-05", "date_to": "2025-03-04"}, "date_to"),
        ({"date_from": "2025-03-05T10:00Z", "date_to": "2025-03-05T09:59:59Z"}, "date_to"),
        ({"date_from": "0001-01-01T00:00:00+01:00"}, "date_from"),
        ({"search": "a\x00b"}, "search"),
        ({"user": "a\x00"}, "user"),
        ({"patient_id": "x" * 65}, "patient_id"),
    ],
)
def test_an_invalid_filter_answers_400_naming_the_field(
    client_user: APIClient, user: AbstractUser, params: dict[str, str], field: str
) -> None:
    make_entry(user)
    response = client_user.get(URL, params)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert isinstance(response.json()[field], list)


def test_an_admin_filters_by_username(client_admin: APIClient, user: AbstractUser, other_user: AbstractUser) -> None:
    mine = make_entry(user)
    make_entry(other_user)
    failed_login = make_entry(None, action=Action.LOGIN, status=Status.FAILED, username="alice")
    assert ids(client_admin.get(URL, {"user": "alice"})) == [failed_login.pk, mine.pk]
    assert ids(client_admin.get(URL, {"user": "nobody"})) == []


def test_a_user_filtering_by_another_username_sees_nothing_of_theirs(
    client_user: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    mine = make_entry(user)
    make_entry(other_user)
    make_entry(None, action=Action.LOGIN, username="bob")
    response = client_user.get(URL, {"user": "bob"})
    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert ids(client_user.get(URL, {"user": "alice"})) == [mine.pk]


def test_it_filters_by_destination_id(client_user: APIClient, user: AbstractUser, pacs: Destination) -> None:
    other = Destination.objects.create(name="Other", ae_title="OTHER", host="10.0.0.6")
    to_pacs = make_entry(user, destination=pacs)
    make_entry(user, destination=other)
    make_entry(user, action=Action.LOGIN)
    assert ids(client_user.get(URL, {"destination": pacs.pk})) == [to_pacs.pk]
    assert ids(client_user.get(URL, {"destination": 10**6})) == []


def test_deleted_destinations_are_listed_and_filtered_by_the_id_their_entries_kept(
    client_user: APIClient,
    client_other: APIClient,
    client_admin: APIClient,
    user: AbstractUser,
    other_user: AbstractUser,
    pacs: Destination,
) -> None:
    old = Destination.objects.create(name="Old PACS", ae_title="OLD", host="10.0.0.7")
    gone = Destination.objects.create(name="Gone", ae_title="GONE", host="10.0.0.8")
    to_old = [make_entry(user, destination=old), make_entry(user, destination=old, status=Status.FAILED)]
    make_entry(user, destination=pacs)
    to_gone = make_entry(other_user, destination=gone)
    make_entry(user, action=Action.LOGIN)
    old_id, gone_id = old.pk, gone.pk
    destination_delete(destination=old, actor=None)  # audited: the list says when
    gone.delete()
    # A new destination of the old one's name, deleted in turn: two deleted "Old PACS", apart.
    renewed = Destination.objects.create(name="Old PACS", ae_title="NEW", host="10.0.0.9")
    to_renewed = make_entry(user, destination=renewed)
    renewed_id = renewed.pk
    assert ids(client_user.get(URL, {"destination": renewed_id})) == [to_renewed.pk]  # before its deletion
    renewed.delete()

    listed = client_user.get(f"{URL}deleted-destinations/")
    assert listed.status_code == 200
    found = listed.json()["destinations"]
    assert [(d["id"], d["name"]) for d in found] == [(old_id, "Old PACS"), (renewed_id, "Old PACS")]  # not bob's
    deletion = TransferLog.objects.get(action=Action.DESTINATION_DELETE)
    assert found[0]["deleted_at"] == deletion.timestamp.isoformat().replace("+00:00", "Z")
    assert found[1]["deleted_at"] is None  # deleted without an audit entry (the ORM)
    assert client_other.get(f"{URL}deleted-destinations/").json()["destinations"] == [
        {"id": gone_id, "name": "Gone", "deleted_at": None}
    ]
    assert len(client_admin.get(f"{URL}deleted-destinations/").json()["destinations"]) == 3
    assert sorted(ids(client_user.get(URL, {"deleted_destination": old_id}))) == sorted(e.pk for e in to_old)
    assert ids(client_user.get(URL, {"deleted_destination": renewed_id})) == [to_renewed.pk]
    assert ids(client_user.get(URL, {"deleted_destination": gone_id})) == []  # bob's entry
    assert ids(client_other.get(URL, {"deleted_destination": gone_id})) == [to_gone.pk]
    assert ids(client_user.get(URL, {"destination": old_id})) == []  # that filter is of today's destinations
    entry = client_user.get(f"{URL}{to_old[0].pk}/").json()
    assert entry["destination"]["deleted"] is True and entry["destination"]["id"] is None
    assert APIClient().get(f"{URL}deleted-destinations/").status_code == 401


def test_a_destination_renamed_before_its_deletion_is_listed_once_by_its_last_name(
    client_admin: APIClient, user: AbstractUser
) -> None:
    pacs = Destination.objects.create(name="Alpha", ae_title="ALPHA", host="10.0.0.12")
    first = make_entry(user, destination=pacs)
    pacs.name = "Zulu"
    pacs.save()
    second = make_entry(user, destination=pacs)
    pk = pacs.pk
    destination_delete(destination=pacs, actor=None)
    [listed] = client_admin.get(f"{URL}deleted-destinations/").json()["destinations"]
    assert (listed["id"], listed["name"]) == (pk, "Zulu") and listed["deleted_at"]
    found = ids(client_admin.get(URL, {"deleted_destination": pk}))
    assert first.pk in found and second.pk in found  # and the deletion's entry


@pytest.mark.parametrize("how", ["service", "queryset", "instance"])
def test_an_entry_made_before_entries_kept_ids_gets_its_destinations_at_the_deletion(
    client_user: APIClient, user: AbstractUser, how: str
) -> None:
    pacs = Destination.objects.create(name="Older", ae_title="OLDER", host="10.0.0.11")
    pk = pacs.pk
    entry = make_entry(user, destination=pacs)
    TransferLog.objects.filter(pk=entry.pk).update(destination_key=None)  # as migration 0016 finds it
    if how == "service":
        destination_delete(destination=pacs, actor=None)
    elif how == "queryset":  # the admin's bulk delete
        Destination.objects.filter(pk=pk).delete()
    else:
        pacs.delete()
    entry.refresh_from_db()
    assert (entry.destination_id, entry.destination_key) == (None, pk)
    assert ids(client_user.get(URL, {"deleted_destination": pk})) == [entry.pk]


def test_a_destination_deleted_before_entries_kept_ids_is_found_by_its_name(
    client_user: APIClient, user: AbstractUser
) -> None:
    spaced = Destination.objects.create(name="Spaced ", ae_title="SPACED", host="10.0.0.10")
    before_ids = make_entry(user, destination=spaced)
    spaced.delete()
    TransferLog.objects.filter(pk=before_ids.pk).update(destination_key=None)  # as migration 0016 finds it
    assert client_user.get(f"{URL}deleted-destinations/").json()["destinations"] == [
        {"id": None, "name": "Spaced ", "deleted_at": None}
    ]
    # The name as the entries kept it, spaces included.
    assert ids(client_user.get(URL, {"deleted_destination_name": "Spaced "})) == [before_ids.pk]
    assert ids(client_user.get(URL, {"deleted_destination_name": "Spaced"})) == []
    assert client_user.get(URL, {"deleted_destination_name": "x" * 101}).status_code == 400
    assert client_user.get(URL, {"deleted_destination": "Spaced"}).status_code == 400  # an id


def test_it_filters_by_modality_patient_and_study(client_user: APIClient, user: AbstractUser) -> None:
    ct = make_entry(user, modality="CT", patient_id="P1", study_instance_uid="1.2.1")
    mr = make_entry(user, modality="MR", patient_id="P10", study_instance_uid="1.2.10")
    assert ids(client_user.get(URL, {"modality": "ct"})) == [ct.pk]
    # patient_id and study_instance_uid match exactly, not as a prefix.
    assert ids(client_user.get(URL, {"patient_id": "P1"})) == [ct.pk]
    assert ids(client_user.get(URL, {"study_instance_uid": "1.2.10"})) == [mr.pk]
    assert ids(client_user.get(URL, {"modality": "MR", "patient_id": "P1"})) == []


def test_date_bounds_are_inclusive_and_a_date_to_date_covers_its_whole_day(
    client_user: APIClient, user: AbstractUser
) -> None:
    before = make_entry(user, at=datetime(2025, 3, 3, 23, 59, 59, 999999, tzinfo=UTC))
    first = make_entry(user, at=at(4, 0, 0))
    last = make_entry(user, at=datetime(2025, 3, 5, 23, 59, 59, 999999, tzinfo=UTC))
    after = make_entry(user, at=at(6, 0, 0))
    assert ids(client_user.get(URL, {"date_from": "2025-03-04", "date_to": "2025-03-05"})) == [last.pk, first.pk]
    assert ids(client_user.get(URL, {"date_from": "2025-03-04"})) == [after.pk, last.pk, first.pk]
    assert ids(client_user.get(URL, {"date_to": "2025-03-03"})) == [before.pk]
    assert ids(client_user.get(URL, {"date_from": "2025-03-06", "date_to": "2025-03-06"})) == [after.pk]


def test_the_extreme_dates_are_accepted(client_user: APIClient, user: AbstractUser) -> None:
    entry = make_entry(user)
    response = client_user.get(URL, {"date_from": "0001-01-01", "date_to": "9999-12-31"})
    assert response.status_code == 200
    assert ids(response) == [entry.pk]
    assert ids(client_user.get(URL, {"date_from": "2025-03-05T10:00Z", "date_to": "2025-03-05T10:00Z"})) == []


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [
        ("2025-03-04T00:00:00Z", "2025-03-06T00:00:00Z"),
        ("2025-03-04T00:00:00", "2025-03-06T00:00"),  # no offset: UTC
        ("2025-03-04T01:00:00+01:00", "2025-03-06T01:00:00+01:00"),
        ("2025-03-04T01:00:00 01:00", "2025-03-06T01:00:00 01:00"),  # "+" decoded as a space
        ("2025-03-03T19:00:00-05:00", "2025-03-05T19:00:00-05:00"),
    ],
)
def test_timestamp_bounds_are_inclusive_in_any_offset(
    client_user: APIClient, user: AbstractUser, date_from: str, date_to: str
) -> None:
    make_entry(user, at=datetime(2025, 3, 3, 23, 59, 59, tzinfo=UTC))
    first = make_entry(user, at=at(4, 0, 0))
    last = make_entry(user, at=at(6, 0, 0))
    make_entry(user, at=datetime(2025, 3, 6, 0, 0, 1, tzinfo=UTC))
    assert ids(client_user.get(URL, {"date_from": date_from, "date_to": date_to})) == [last.pk, first.pk]


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "term"),
    [
        ("patient_name", "MÜLLER^HANS", "müller"),
        ("patient_id", "PAT-00042", "00042"),
        ("study_instance_uid", "1.2.840.99.7", "840.99"),
        ("series_instance_uid", "1.2.840.55.3", "55.3"),
        ("series_description", "Thorax Abdomen", "abdo"),
    ],
)
def test_search_matches_part_of_a_field_ignoring_case(
    client_user: APIClient, user: AbstractUser, field: str, value: str, term: str
) -> None:
    hit = make_entry(user, **{field: value})
    make_entry(user, patient_name="OTHER^ONE", patient_id="X", study_instance_uid="9", series_instance_uid="8")
    assert ids(client_user.get(URL, {"search": term})) == [hit.pk]


def test_search_matches_the_destination_name_of_the_snapshot(
    client_user: APIClient, user: AbstractUser, pacs: Destination
) -> None:
    hit = make_entry(user, destination=pacs)
    make_entry(user)
    pacs.delete()
    assert ids(client_user.get(URL, {"search": "pac"})) == [hit.pk]


def test_search_needs_every_word_and_takes_wildcards_literally(client_user: APIClient, user: AbstractUser) -> None:
    both = make_entry(user, patient_name="DOE^JOHN", modality="CT", series_description="CHEST 100%")
    make_entry(user, patient_name="DOE^JANE", series_description="CHEST 1000")
    assert ids(client_user.get(URL, {"search": "doe  john"})) == [both.pk]
    assert ids(client_user.get(URL, {"search": "100%"})) == [both.pk]
    assert ids(client_user.get(URL, {"search": "_"})) == []


def test_search_stays_within_what_the_user_may_see(
    client_user: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    make_entry(other_user, patient_id="SECRET")
    assert client_user.get(URL, {"search": "SECRET"}).json()["count"] == 0


# --- ordering --------------------------------------------------------------------------------


@pytest.fixture
def three(user: AbstractUser) -> dict[str, TransferLog]:
    return {
        "a": make_entry(
            user, at=at(2), status=Status.SUCCESS, action=Action.SEND, patient_name="B", completed_at=at(3)
        ),
        "b": make_entry(user, at=at(3), status=Status.FAILED, action=Action.IMPORT, patient_name="C"),
        "c": make_entry(
            user, at=at(1), status=Status.PENDING, action=Action.LOGIN, patient_name="A", completed_at=at(5)
        ),
    }


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        (None, "bac"),
        ("-timestamp", "bac"),
        ("timestamp", "cab"),
        ("status", "bca"),
        ("-status", "acb"),
        ("action", "bca"),
        ("-action", "acb"),
        ("patient_name", "cab"),
        ("-patient_name", "bac"),
        ("completed_at", "acb"),  # unfinished entries last
        ("-completed_at", "cab"),
    ],
)
def test_it_orders_by_each_allowed_field(
    client_user: APIClient, three: dict[str, TransferLog], ordering: str | None, expected: str
) -> None:
    params = {"ordering": ordering} if ordering else {}
    assert ids(client_user.get(URL, params)) == [three[key].pk for key in expected]


def test_entries_with_the_same_timestamp_are_ordered_by_id_newest_first(
    client_user: APIClient, user: AbstractUser
) -> None:
    entries = [make_entry(user, at=at(1)) for _ in range(3)]
    assert ids(client_user.get(URL)) == [entry.pk for entry in reversed(entries)]


# --- paging ----------------------------------------------------------------------------------


def bulk_entries(user: AbstractUser, count: int, destination: Destination | None = None) -> list[TransferLog]:
    return TransferLog.objects.bulk_create(
        TransferLog(
            user=user,
            username=user.username,
            action=Action.SEND if destination else Action.LOGIN,
            status=Status.SUCCESS,
            destination=destination,
            destination_name=destination.name if destination else "",
            patient_id=f"P{n}",
        )
        for n in range(count)
    )


def test_it_pages_50_by_default_and_links_the_next_page(client_user: APIClient, user: AbstractUser) -> None:
    bulk_entries(user, 51)
    first = client_user.get(URL).json()
    assert (first["count"], len(first["results"]), first["previous"]) == (51, 50, None)
    assert "page=2" in first["next"]
    second = client_user.get(URL, {"page": 2}).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    all_ids = [item["id"] for item in first["results"] + second["results"]]
    assert len(set(all_ids)) == 51


def test_page_size_is_honoured_and_capped_at_500(client_user: APIClient, user: AbstractUser) -> None:
    bulk_entries(user, 501)
    assert len(client_user.get(URL, {"page_size": 7}).json()["results"]) == 7
    assert len(client_user.get(URL, {"page_size": 500}).json()["results"]) == 500
    capped = client_user.get(URL, {"page_size": 10_000}).json()
    assert (capped["count"], len(capped["results"])) == (501, 500)


@pytest.mark.parametrize("page", ["2", "0", "-1", "x", str(10**20)])
def test_a_page_that_does_not_exist_is_404(client_user: APIClient, user: AbstractUser, page: str) -> None:
    bulk_entries(user, 3)
    response = client_user.get(URL, {"page": page})
    assert response.status_code == 404
    assert "detail" in response.json()


@pytest.mark.parametrize("estimating", [False, True])
@pytest.mark.parametrize("who", ["client_user", "client_admin"])
def test_the_list_makes_a_constant_number_of_queries_whatever_the_page_size(
    request: pytest.FixtureRequest,
    user: AbstractUser,
    other_user: AbstractUser,
    pacs: Destination,
    django_assert_num_queries: Any,
    monkeypatch: pytest.MonkeyPatch,
    who: str,
    estimating: bool,
) -> None:
    if estimating:
        monkeypatch.setattr(pagination, "EXACT_COUNT_UP_TO", 0)
    client: APIClient = request.getfixturevalue(who)
    for owner in (user, other_user):
        bulk_entries(owner, 110, destination=pacs)
        make_entry(owner, destination=pacs, details={"attempts": [1, 2]}, completed_at=at(1))
    visible = 111 if who == "client_user" else 222
    # The token's user, the page, the planner's estimate, the exact count unless estimated.
    # Nothing per row.
    for page_size in (1, 100):
        with django_assert_num_queries(3 if estimating else 4):
            response = client.get(URL, {"page_size": page_size, "ordering": "-completed_at"})
        body = response.json()
        assert (body["count_is_estimate"], len(body["results"])) == (estimating, page_size)
        if not estimating:
            assert body["count"] == visible


def test_the_last_page_knows_the_count_without_counting(
    client_user: APIClient, user: AbstractUser, django_assert_num_queries: Any
) -> None:
    bulk_entries(user, 5)
    with django_assert_num_queries(2):  # the token's user, the page
        first = client_user.get(URL).json()
    assert (first["count"], len(first["results"]), first["next"]) == (5, 5, None)
    with django_assert_num_queries(2):
        last = client_user.get(URL, {"page_size": 2, "page": 3}).json()
    assert (last["count"], len(last["results"]), last["next"]) == (5, 1, None)
    assert "page=2" in last["previous"]


def test_a_huge_result_gets_an_estimated_count_and_pages_by_what_is_there(
    client_admin: APIClient, user: AbstractUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = bulk_entries(user, 7)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE dicom_api_transferlog")
    monkeypatch.setattr(pagination, "EXACT_COUNT_UP_TO", 0)
    seen: list[int] = []
    for page, size in ((1, 3), (2, 3), (3, 1)):
        body = client_admin.get(URL, {"page": page, "page_size": 3}).json()
        # The last page knows the exact count; the others show the planner's estimate.
        assert body["count_is_estimate"] is (page < 3)
        assert body["count"] >= 1 if page < 3 else body["count"] == 7
        assert len(body["results"]) == size
        assert (body["next"] is None) == (page == 3)
        assert (body["previous"] is None) == (page == 1)
        seen += [item["id"] for item in body["results"]]
    assert seen == sorted((entry.pk for entry in entries), reverse=True)
    assert client_admin.get(URL, {"page": 4, "page_size": 3}).status_code == 404
    assert client_admin.get(URL, {"page": 0}).status_code == 404
    assert client_admin.get(URL, {"page": "x"}).status_code == 404


# --- snapshots -------------------------------------------------------------------------------


def test_deleting_a_destination_changes_no_entry(
    client_admin: APIClient, user: AbstractUser, pacs: Destination
) -> None:
    entry = make_entry(user, destination=pacs)
    before = client_admin.get(f"{URL}{entry.pk}/").json()
    pacs.delete()
    after = client_admin.get(f"{URL}{entry.pk}/").json()
    assert after["destination"] == {**before["destination"], "id": None, "deleted": True}
    assert {k: v for k, v in after.items() if k != "destination"} == {
        k: v for k, v in before.items() if k != "destination"
    }
    entry.refresh_from_db()
    assert (entry.destination_name, entry.destination_ae_title, entry.destination_host, entry.destination_port) == (
        "PACS",
        "PACS_AE",
        "10.0.0.5",
        11112,
    )


def test_deactivating_or_deleting_a_user_changes_no_entry(client_admin: APIClient, user: AbstractUser) -> None:
    entry = make_entry(user, patient_id="P1")
    before = client_admin.get(f"{URL}{entry.pk}/").json()
    user.is_active = False
    user.save()
    assert client_admin.get(f"{URL}{entry.pk}/").json() == before
    user_id = user.pk
    user.delete()
    after = client_admin.get(f"{URL}{entry.pk}/").json()
    assert after["user"] == {"id": None, "username": "alice"}
    assert {**after, "user": before["user"]} == before
    assert before["user"] == {"id": user_id, "username": "alice"}
    assert ids(client_admin.get(URL, {"user": "alice"})) == [entry.pk]


def test_a_renamed_user_keeps_seeing_their_entries_under_the_recorded_name(
    client_user: APIClient, user: AbstractUser
) -> None:
    entry = make_entry(user)
    user.username = "alice2"
    user.save()
    assert client_user.get(URL).json()["results"][0]["user"] == {"id": user.pk, "username": "alice"}
    assert ids(client_user.get(URL)) == [entry.pk]


def test_the_server_sets_the_timestamp_in_utc(client_user: APIClient, user: AbstractUser) -> None:
    before = datetime.now(UTC)
    make_entry(user)
    stamp = client_user.get(URL).json()["results"][0]["timestamp"]
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp)
    assert before - timedelta(seconds=1) <= parsed <= datetime.now(UTC) + timedelta(seconds=1)
