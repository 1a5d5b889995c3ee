from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from destinations.models import Destination

pytestmark = pytest.mark.django_db

URL = "/api/destinations/"
VALID = {"name": "Main PACS", "ae_title": "MAINPACS", "host": "pacs.example.org", "port": 11112}


def create(client: APIClient, **changes: Any) -> Any:
    return client.post(URL, {**VALID, **changes}, format="json")


def test_an_admin_creates_a_destination(client_admin: APIClient, admin_user: AbstractUser) -> None:
    response = create(client_admin, description="Radiology, 2nd floor")
    assert response.status_code == 201
    body = response.json()
    destination = Destination.objects.get()
    assert body["id"] == destination.pk
    assert (destination.name, destination.ae_title, destination.host, destination.port) == (
        "Main PACS",
        "MAINPACS",
        "pacs.example.org",
        11112,
    )
    assert destination.description == "Radiology, 2nd floor"
    assert destination.enabled is True
    assert destination.created_by == admin_user
    assert body["created_by"] == {"id": admin_user.pk, "username": "root"}
    assert body["port"] == 11112


def test_the_port_defaults_to_104(client_admin: APIClient) -> None:
    payload = {key: value for key, value in VALID.items() if key != "port"}
    response = client_admin.post(URL, payload, format="json")
    assert response.status_code == 201
    assert response.json()["port"] == 104
    assert Destination.objects.get().port == 104


def test_surrounding_spaces_are_dropped(client_admin: APIClient) -> None:
    response = create(client_admin, name="  Main PACS ", ae_title='  A"B* ', host=" 10.0.0.5 ")
    assert response.status_code == 201
    destination = Destination.objects.get()
    assert (destination.name, destination.ae_title, destination.host) == ("Main PACS", 'A"B*', "10.0.0.5")
    assert response.json()["ae_title"] == 'A"B*'


def test_sixteen_characters_between_spaces_are_accepted(client_admin: APIClient) -> None:
    response = create(client_admin, ae_title="   ABCDEFGHIJKLMNOP   ")
    assert response.status_code == 201
    assert Destination.objects.get().ae_title == "ABCDEFGHIJKLMNOP"


@pytest.mark.parametrize(
    "ae_title",
    ["A", "PACS_01", "A B", "a-b+c@d", "!#$%&'()*,./:;<", "=>?[]^`{|}~", "ABCDEFGHIJKLMNOP"],
)
def test_it_accepts_valid_ae_titles(client_admin: APIClient, ae_title: str) -> None:
    response = create(client_admin, ae_title=ae_title)
    assert response.status_code == 201, response.json()
    assert Destination.objects.get().ae_title == ae_title


@pytest.mark.parametrize(
    ("ae_title", "expected"),
    [
        ("-h", "begin with"),
        ("+tls", "begin with"),
        ("@/etc/passwd", "begin with"),
        ("  -aet", "begin with"),
        ("ABCDEFGHIJKLMNOPQ", "at most 16"),
        ("A\\B", "backslash"),
        ("    ", "only spaces"),
        ("", "blank"),
        ("A\tB", "printable ASCII"),
        ("\tAB", "printable ASCII"),
        ("AB\n", "printable ASCII"),
        ("A\x1bB", "printable ASCII"),
        ("A\x7fB", "printable ASCII"),
        ("ÄRZTE", "printable ASCII"),
        ("A\x00B", "Null"),
    ],
)
def test_it_rejects_invalid_ae_titles(client_admin: APIClient, ae_title: str, expected: str) -> None:
    response = create(client_admin, ae_title=ae_title)
    assert response.status_code == 400
    assert set(response.json()) == {"ae_title"}
    assert expected.lower() in " ".join(response.json()["ae_title"]).lower()
    assert not Destination.objects.exists()


def test_every_problem_of_an_ae_title_is_named(client_admin: APIClient) -> None:
    response = create(client_admin, ae_title="-ABCDEFGHIJ\\KLMNOPQ")
    assert response.status_code == 400
    messages = response.json()["ae_title"]
    assert len(messages) == 3
    assert "at most 16" in messages[0]
    assert "backslash" in messages[1]
    assert "begin with" in messages[2]
    assert not Destination.objects.exists()


def test_every_problem_of_a_host_is_named(client_admin: APIClient) -> None:
    response = create(client_admin, host="-bad_host")
    assert response.status_code == 400
    messages = response.json()["host"]
    assert len(messages) == 2
    assert "begin with" in messages[0]
    assert "not a valid host name" in messages[1]


def test_a_non_string_ae_title_is_rejected(client_admin: APIClient) -> None:
    response = create(client_admin, ae_title=["PACS"])
    assert response.status_code == 400
    assert "ae_title" in response.json()


@pytest.mark.parametrize(
    "host",
    [
        "pacs.example.org",
        "PACS-01",
        "localhost",
        "10.0.0.5",
        "255.255.255.255",
        "::1",
        "2001:db8::7",
        "a" * 63,
        "x1.y2",
    ],
)
def test_it_accepts_valid_hosts(client_admin: APIClient, host: str) -> None:
    response = create(client_admin, host=host)
    assert response.status_code == 201, response.json()
    assert Destination.objects.get().host == host


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("-h", "begin with"),
        ("+tls", "begin with"),
        ("@/etc/passwd", "begin with"),
        ("-pacs.example.org", "begin with"),
        ("", "blank"),
        ("   ", "empty"),
        ("bad_host.example.org", "not a valid host name"),
        ("pacs-.example.org", "not a valid host name"),
        ("a..b", "not a valid host name"),
        ("localhost.", "not a valid host name"),
        ("host name", "not a valid host name"),
        ("pacs.example.org\n", "not a valid host name"),
        ("\tpacs", "not a valid host name"),
        ("ümlaut.de", "not a valid host name"),
        ("http://pacs", "ipv6"),
        ("a" * 64 + ".org", "not a valid host name"),
        (("a" * 60 + ".") * 4 + "abcdefghij", "longer than 253"),
        ("1.2.3.999", "not a valid ipv4"),
        ("256.1.1.1", "not a valid ipv4"),
        ("1.2.3", "not a valid ipv4"),
        ("010.0.0.5", "not a valid ipv4"),
        ("2130706433", "not a valid ipv4"),
        ("pacs.example.org:104", "ipv6"),
        ("[::1]", "ipv6"),
        ("fe80::1%eth0", "ipv6"),
        ("1:2:3:4:5:6:7:8:9", "ipv6"),
    ],
)
def test_it_rejects_invalid_hosts(client_admin: APIClient, host: str, expected: str) -> None:
    response = create(client_admin, host=host)
    assert response.status_code == 400
    assert set(response.json()) == {"host"}
    assert expected.lower() in " ".join(response.json()["host"]).lower()
    assert not Destination.objects.exists()


@pytest.mark.parametrize("port", [1, 104, 65535, "4242"])
def test_it_accepts_valid_ports(client_admin: APIClient, port: Any) -> None:
    assert create(client_admin, port=port).status_code == 201
    assert Destination.objects.get().port == int(port)


@pytest.mark.parametrize("port", [0, 65536, -1, 70000, "abc", 1.5, None, True])
def test_it_rejects_invalid_ports(client_admin: APIClient, port: Any) -> None:
    response = create(client_admin, port=port)
    assert response.status_code == 400
    assert set(response.json()) == {"port"}
    assert not Destination.objects.exists()


def test_the_port_error_says_the_range(client_admin: APIClient) -> None:
    assert "between 1 and 65535" in create(client_admin, port=65536).json()["port"][0]


def test_a_name_is_required(client_admin: APIClient) -> None:
    payload = {key: value for key, value in VALID.items() if key != "name"}
    response = client_admin.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["name"] == ["This field is required."]


def test_a_blank_name_is_rejected(client_admin: APIClient) -> None:
    response = create(client_admin, name="   ")
    assert response.status_code == 400
    assert "name" in response.json()


def test_ae_title_and_host_are_required(client_admin: APIClient) -> None:
    response = client_admin.post(URL, {"name": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"ae_title", "host"}


@pytest.mark.parametrize("taken", ["Main PACS", "main pacs", " MAIN PACS "])
def test_a_name_in_use_is_rejected_clearly(client_admin: APIClient, taken: str) -> None:
    assert create(client_admin).status_code == 201
    response = create(client_admin, name=taken)
    assert response.status_code == 400
    assert response.json() == {"name": [f"A destination named {taken.strip()!r} already exists."]}
    assert Destination.objects.count() == 1


def test_read_only_fields_are_ignored(client_admin: APIClient, admin_user: AbstractUser, user: AbstractUser) -> None:
    response = create(client_admin, id=4242, created_by=user.pk, created_at="2000-01-01T00:00:00Z")
    assert response.status_code == 201
    destination = Destination.objects.get()
    assert destination.pk != 4242
    assert destination.created_by == admin_user
    assert destination.created_at.year > 2000


def test_a_user_may_not_create(client_user: APIClient) -> None:
    response = create(client_user)
    assert response.status_code == 403
    assert "administrators" in response.json()["detail"]
    assert not Destination.objects.exists()


def test_it_needs_a_token(anon_client: APIClient, db: None) -> None:
    assert create(anon_client).status_code == 401
    assert not Destination.objects.exists()


def test_verify_is_chosen_and_the_state_is_not_writable(client_admin: APIClient) -> None:
    response = create(client_admin, verify="c-find", state={"reachable": False, "last_error": "made up"})
    assert response.status_code == 201
    assert response.json()["verify"] == "c-find"
    assert response.json()["state"] == {"reachable": True, "since": None, "last_error": ""}
    destination = Destination.objects.get()
    assert (destination.verify, destination.reachable, destination.last_error) == ("c-find", True, "")
    assert create(client_admin, name="Other", verify="sometimes").status_code == 400


def test_max_associations_defaults_to_one_and_is_kept(client_admin: APIClient, settings: Any) -> None:
    settings.TRANSFER_MAX_CONCURRENT_PER_DESTINATION = 8
    assert create(client_admin).json()["max_associations"] == 1
    response = create(client_admin, name="WAN PACS", max_associations=8)
    assert response.status_code == 201, response.content
    assert response.json()["max_associations"] == 8
    assert Destination.objects.get(name="WAN PACS").max_associations == 8


@pytest.mark.parametrize("value", [0, -1, 5, "four", 2.5])
def test_max_associations_beyond_the_per_destination_cap_is_refused(
    client_admin: APIClient, settings: Any, value: Any
) -> None:
    settings.TRANSFER_MAX_CONCURRENT_PER_DESTINATION = 4
    response = create(client_admin, max_associations=value)
    assert response.status_code == 400
    assert list(response.json()) == ["max_associations"]
    assert not Destination.objects.exists()


def test_the_max_associations_error_names_the_cap(client_admin: APIClient, settings: Any) -> None:
    settings.TRANSFER_MAX_CONCURRENT_PER_DESTINATION = 4
    response = create(client_admin, max_associations=5)
    assert response.json() == {
        "max_associations": [
            "Must be between 1 and 4, the simultaneous associations allowed per destination "
            "(TRANSFER_MAX_CONCURRENT_PER_DESTINATION)."
        ]
    }


def test_the_schema_documents_max_associations(client_admin: APIClient) -> None:
    schema = client_admin.get("/api/schema/?format=json").json()
    field = schema["components"]["schemas"]["Destination"]["properties"]["max_associations"]
    assert (field["type"], field["default"], field["minimum"]) == ("integer", 1, 1)
    assert "TRANSFER_MAX_CONCURRENT_PER_DESTINATION" in field["description"]
