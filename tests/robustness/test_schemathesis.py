"""Schemathesis over /api/schema/, in-process through the WSGI application, as a user and as an admin.

Every operation of the schema gets a few dozen generated requests (valid and invalid data); each
response must not be a 500, must have a status and a body the schema documents, and an endpoint
that needs a token must refuse the same request without it (schemathesis' ``ignored_auth``).
The database holds a destination, an import of the caller and a failed transfer of it; half the
generated requests name those in their path, so the fuzzer reaches the objects' real answers, not
only 404s. No operation is excluded. ``/api/health/`` is a plain Django view, outside the schema:
tests/robustness/test_authentication.py checks it with the rest.

No transfer or connection test reaches the network: no worker runs here (send only queues jobs),
and ``ECHOSCU_PATH`` points at a program that does not exist, so a connection test of a
destination the fuzzer created (any host) answers "echoscu not installed" without sending a packet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import client_for
from destinations.models import Destination
from dicom_api.models import Status
from dicom_api.services.transfers import transfers_create
from dicom_transfer.wsgi import application
from testsupport.dicom_data import generate_series, import_files

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]


@pytest.fixture(autouse=True)
def _in_process(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Requests run on the test's own database connection, as Django's test client does."""
    settings.ECHOSCU_PATH = "/nonexistent/echoscu"
    # Login is fuzzed, not throttled after ten tries (the throttle has its own tests; 429 is documented).
    settings.LOGIN_THROTTLE_USERNAME = settings.LOGIN_THROTTLE_ADDRESS = (10000, 60)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=["user", "admin"])
def account(request: pytest.FixtureRequest) -> User:
    return request.getfixturevalue("user" if request.param == "user" else "admin_user")


@pytest.fixture
def seeded(account: User, tmp_path: Path) -> dict[str, str]:
    """Objects for the path parameters: a destination, the caller's import, a failed transfer (an audit entry)."""
    destination = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=11112)
    series = generate_series(tmp_path / "series", 2, patient_name="FUZZ^PATIENT", patient_id="FUZZ-0001")
    session = import_files(account, series.files)
    (transfer,) = transfers_create(
        user=account,
        import_id=session.pk,
        series_instance_uids=[series.series_instance_uid],
        destination_ids=[destination.pk],
    )
    transfer.status = Status.FAILED
    transfer.save(update_fields=["status"])
    # Another account for /api/auth/users/{id}/ (a reset of the caller's own password would
    # leave the rest of the run answering 403 until it changed it).
    target = User.objects.create_user("fuzz-target", password="fuzz-target-password")
    return {
        "users": str(target.pk),
        "destinations": str(destination.pk),
        "transfers": str(transfer.pk),
        "imports": str(session.pk),
        "logs": str(transfer.pk),  # a transfer is an audit entry
        "series": series.series_instance_uid,  # of that import (its thumbnail)
    }


def _use_seeded(case: schemathesis.Case, seeded: dict[str, str]) -> None:
    for name in ("id", "import_id"):
        if name in (case.path_parameters or {}):
            collection = next(part for part in seeded if f"/{part}/" in case.path)
            case.path_parameters[name] = seeded[collection]
    if "series_instance_uid" in (case.path_parameters or {}):
        case.path_parameters["series_instance_uid"] = seeded["series"]


@pytest.mark.django_db
@schema.parametrize()
@schema.given(use_seeded=st.booleans())
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(
    case: schemathesis.Case, use_seeded: bool, account: User, seeded: dict[str, str]
) -> None:
    if use_seeded:
        _use_seeded(case, seeded)
    token = client_for(account)._credentials["HTTP_AUTHORIZATION"]
    case.call_and_validate(headers={"Authorization": token}, checks=CHECKS)


HUGE_ID = "9" * 25  # beyond any database integer
TOO_DEEP = 40  # beyond dicom_transfer.parsers.JSON_MAX_DEPTH


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.django_db
def test_hostile_ids_and_nesting_answer_a_documented_4xx(account: User, seeded: dict[str, str]) -> None:
    """Every operation with an id in its path gets a huge one (404); every one with a JSON body
    gets arrays nested deeper than the limit (400). Never a 500, and the answer is documented."""
    token = client_for(account)._credentials["HTTP_AUTHORIZATION"]
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = [parameter.name for parameter in operation.path_parameters]
        if "id" in names:
            case = operation.Case(path_parameters={"id": HUGE_ID})
            expected = 404
        elif any(body.media_type == "application/json" for body in operation.body):
            path_parameters = {name: seeded[next(p for p in seeded if f"/{p}/" in operation.path)] for name in names}
            case = operation.Case(
                path_parameters=path_parameters, body={"nested": _nested(TOO_DEEP)}, media_type="application/json"
            )
            expected = 400
        else:
            continue
        response = case.call(headers={"Authorization": token})
        case.validate_response(response, checks=CHECKS)
        # A plain user may be refused first (403: admins only), before the body is read.
        allowed = {expected} if account.is_staff else {expected, 403}
        assert response.status_code in allowed, f"{operation.label}: {response.status_code} {response.text}"
        if response.status_code == 400:
            assert "nested deeper than" in response.json()["detail"], operation.label
        tried.append(operation.label)
    assert len(tried) >= 15, tried  # every operation with an id or a JSON body
