"""``POST /api/destinations/{id}/test_connection/`` against real peers on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Action, Status, TransferLog
from testsupport import peers
from testsupport.rejecting_scp import rejecting_scp

pytestmark = pytest.mark.django_db


def url(destination_id: int) -> str:
    return f"/api/destinations/{destination_id}/test_connection/"


@pytest.fixture(scope="module")
def storescp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[peers.StoreSCP]:
    with peers.storescp(tmp_path_factory.mktemp("storescp"), "STORESCP") as scp:
        yield scp


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[peers.Orthanc]:
    with peers.orthanc(tmp_path_factory.mktemp("orthanc"), "ORTHANC", check_called_aet=True) as server:
        yield server


@pytest.fixture
def disabled_destination(make_destination: Callable[..., Destination]) -> Destination:
    return make_destination("Old PACS", ae_title="OLDPACS", enabled=False)


@pytest.fixture
def short_timeouts(settings: Any) -> None:
    settings.DICOM_CONNECT_TIMEOUT = 1
    settings.DICOM_ACSE_TIMEOUT = 1
    settings.DICOM_DIMSE_TIMEOUT = 1


def run_test(client: APIClient, destination: Destination) -> Any:
    response = client.post(url(destination.pk))
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"success", "message", "duration_ms", "log_id"}
    return body


def test_echo_succeeds_against_storescp_and_is_audited(
    client_user: APIClient, user: AbstractUser, make_destination: Callable[..., Destination], storescp: peers.StoreSCP
) -> None:
    destination = make_destination(ae_title="STORESCP", host="127.0.0.1", port=storescp.port)
    body = run_test(client_user, destination)
    assert body["success"] is True
    assert body["category"] == "ok"
    assert "answered the C-ECHO" in body["message"]
    assert 0 <= body["duration_ms"] < 5000
    entry = TransferLog.objects.get(pk=body["log_id"])
    assert (entry.action, entry.status, entry.user, entry.error_message) == (
        Action.TEST_CONNECTION,
        Status.SUCCESS,
        user,
        "",
    )
    assert entry.destination == destination
    assert (entry.destination_name, entry.destination_ae_title, entry.destination_host, entry.destination_port) == (
        "PACS",
        "STORESCP",
        "127.0.0.1",
        storescp.port,
    )
    assert entry.completed_at is not None
    assert entry.details["duration_ms"] == body["duration_ms"]
    assert entry.details["category"] == "ok"
    assert "Received Echo Response (Success)" in entry.details["output"]


def test_echo_fails_clearly_against_a_closed_port(
    client_user: APIClient, make_destination: Callable[..., Destination]
) -> None:
    port = peers.closed_port()
    destination = make_destination(host="127.0.0.1", port=port)
    body = run_test(client_user, destination)
    assert body["success"] is False
    assert body["category"] == "refused"
    assert body["message"] == (
        f"Connection refused: nothing accepts connections at 127.0.0.1:{port}. "
        "Is the DICOM service running and the port right?"
    )
    entry = TransferLog.objects.get(pk=body["log_id"])
    assert (entry.status, entry.error_message) == (Status.FAILED, body["message"])


def test_echo_to_orthanc_with_a_wrong_called_ae_says_the_ae_title_is_not_recognized(
    client_user: APIClient, make_destination: Callable[..., Destination], orthanc: peers.Orthanc
) -> None:
    destination = make_destination(ae_title="WRONG_AE", host="127.0.0.1", port=orthanc.dicom_port)
    body = run_test(client_user, destination)
    assert body["success"] is False
    assert body["category"] == "rejected"
    assert "Called AE Title Not Recognized" in body["message"]
    assert "check the destination's AE title" in body["message"]
    assert "'WRONG_AE'" in body["message"]
    assert TransferLog.objects.get(pk=body["log_id"]).status == Status.FAILED


def test_a_busy_peer_is_audited_with_the_rejection_as_data(
    client_user: APIClient, make_destination: Callable[..., Destination], settings: Any
) -> None:
    settings.DICOM_CALLING_AE = "OURS"
    with rejecting_scp("BUSY", busy=True) as port:
        body = run_test(client_user, make_destination(ae_title="BUSY", host="127.0.0.1", port=port))
    assert (body["success"], body["category"]) == (False, "rejected")
    assert "try again in a moment" in body["message"]
    entry = TransferLog.objects.get(pk=body["log_id"])
    assert entry.details["rejection"] == {
        "result": "transient",
        "source": "Service Provider (Presentation Related)",
        "reason": "Local Limit Exceeded",
    }


def test_our_calling_ae_title_comes_from_the_settings(
    client_user: APIClient, make_destination: Callable[..., Destination], settings: Any
) -> None:
    with rejecting_scp("STRICT", known_calling_ae="FRIEND") as port:
        destination = make_destination(ae_title="STRICT", host="127.0.0.1", port=port)
        settings.DICOM_CALLING_AE = "STRANGER"
        refused = run_test(client_user, destination)
        settings.DICOM_CALLING_AE = "FRIEND"
        accepted = run_test(client_user, destination)
    assert (refused["category"], accepted["category"]) == ("rejected", "ok")
    assert "'STRANGER'" in refused["message"]
    assert TransferLog.objects.get(pk=refused["log_id"]).details["rejection"]["reason"] == (
        "Calling AE Title Not Recognized"
    )


def test_echo_to_orthanc_with_its_ae_title_succeeds(
    client_user: APIClient, make_destination: Callable[..., Destination], orthanc: peers.Orthanc
) -> None:
    destination = make_destination(ae_title="ORTHANC", host="127.0.0.1", port=orthanc.dicom_port)
    assert run_test(client_user, destination)["success"] is True


def test_a_listener_that_never_answers_fails_within_the_timeout(
    client_user: APIClient, make_destination: Callable[..., Destination], short_timeouts: None
) -> None:
    with peers.silent_listener() as port:
        destination = make_destination(host="127.0.0.1", port=port)
        started = time.monotonic()
        body = run_test(client_user, destination)
        elapsed = time.monotonic() - started
    assert body["success"] is False
    assert body["category"] == "timeout"
    assert "No answer from 127.0.0.1" in body["message"]
    assert elapsed < 1 + 3, f"took {elapsed:.2f} s with a 1 s timeout"  # margin for a loaded CI machine
    assert 900 <= body["duration_ms"] < 4000


def test_an_unknown_host_says_so(client_user: APIClient, make_destination: Callable[..., Destination]) -> None:
    destination = make_destination(host="no-such-host.invalid")
    body = run_test(client_user, destination)
    assert (body["success"], body["category"]) == (False, "host_not_found")
    assert "'no-such-host.invalid' could not be resolved" in body["message"]


def test_a_missing_echoscu_says_to_install_dcmtk(
    client_user: APIClient, destination: Destination, settings: Any
) -> None:
    settings.ECHOSCU_PATH = "/nonexistent/echoscu"
    body = run_test(client_user, destination)
    assert (body["success"], body["category"]) == (False, "not_installed")
    assert "Install DCMTK" in body["message"]
    assert TransferLog.objects.get(pk=body["log_id"]).status == Status.FAILED


def test_an_ipv6_destination_is_not_tested_and_says_why(
    client_user: APIClient, make_destination: Callable[..., Destination]
) -> None:
    body = run_test(client_user, make_destination(host="::1"))
    assert (body["success"], body["category"]) == (False, "unsupported")
    assert "IPv6" in body["message"]


def test_a_stored_value_that_became_invalid_never_reaches_echoscu(
    client_user: APIClient, make_destination: Callable[..., Destination]
) -> None:
    # Written around the API (e.g. by SQL): the last guard refuses it.
    body = run_test(client_user, make_destination(ae_title="-h", host="+tls"))
    assert (body["success"], body["category"]) == (False, "invalid")
    assert "AE title" in body["message"]
    assert "host" in body["message"]
    assert (
        "output" not in TransferLog.objects.get(pk=body["log_id"]).details
        or not (TransferLog.objects.get(pk=body["log_id"]).details["output"])
    )


def test_an_admin_may_test_a_disabled_destination(
    client_admin: APIClient, disabled_destination: Destination, admin_user: AbstractUser
) -> None:
    body = run_test(client_admin, disabled_destination)
    assert TransferLog.objects.get(pk=body["log_id"]).user == admin_user


def test_a_user_can_not_test_a_disabled_destination(client_user: APIClient, disabled_destination: Destination) -> None:
    assert client_user.post(url(disabled_destination.pk)).status_code == 404
    assert not TransferLog.objects.exists()


def test_it_needs_a_token(anon_client: APIClient, destination: Destination) -> None:
    assert anon_client.post(url(destination.pk)).status_code == 401
    assert not TransferLog.objects.exists()


def test_an_unknown_destination_is_404(client_user: APIClient, db: None) -> None:
    assert client_user.post(url(999999)).status_code == 404


def test_get_is_not_allowed(client_user: APIClient, destination: Destination) -> None:
    assert client_user.get(url(destination.pk)).status_code == 405
