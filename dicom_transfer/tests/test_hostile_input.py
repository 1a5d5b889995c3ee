"""400 (or 404 for a URL), never 500, on hostile input: deeply nested JSON and huge ids."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from dicom_transfer.parsers import JSON_MAX_DEPTH, check_json_depth

NESTED = "[" * 200_000 + "]" * 200_000


def post_raw(client: APIClient, path: str, body: str) -> Any:
    return client.generic("POST", path, body, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/dicom/send/"),
        ("PUT", "/api/auth/user/update/"),
        ("PATCH", "/api/auth/user/update/"),
        ("POST", "/api/destinations/"),
    ],
)
def test_deeply_nested_json_answers_400_for_a_user(client_admin: APIClient, method: str, path: str) -> None:
    response = client_admin.generic(method, path, NESTED, content_type="application/json")
    assert response.status_code == 400
    assert f"nested deeper than {JSON_MAX_DEPTH} levels" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/auth/login/", "/api/auth/refresh/"])
def test_deeply_nested_json_answers_400_without_login(anon_client: APIClient, path: str) -> None:
    response = post_raw(anon_client, path, '{"username": ' + NESTED + "}")
    assert response.status_code == 400
    assert "nested deeper" in response.json()["detail"]


@pytest.mark.django_db
def test_json_at_the_depth_limit_is_parsed(client_user: APIClient) -> None:
    # Brackets inside strings (with escaped quotes) do not count.
    body = '{"first_name": "[[[[\\"{{{{", "x": ' + "[" * (JSON_MAX_DEPTH - 1) + "]" * (JSON_MAX_DEPTH - 1) + "}"
    response = client_user.generic("PATCH", "/api/auth/user/update/", body, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["first_name"] == '[[[["{{{{'


def test_the_depth_check_counts_only_brackets_outside_strings() -> None:
    check_json_depth(b'["' + b"[" * 1000 + b'"]')
    check_json_depth(b"[" * JSON_MAX_DEPTH + b"]" * JSON_MAX_DEPTH)
    with pytest.raises(Exception, match="nested deeper"):
        check_json_depth(b"[" * (JSON_MAX_DEPTH + 1))
    with pytest.raises(Exception, match="nested deeper"):
        check_json_depth(b'{"a\\"": ' * (JSON_MAX_DEPTH + 1))


@pytest.mark.django_db
@pytest.mark.parametrize("ids", ["99999999999999999999999", "9223372036854775808", "0", "-1", "1,99999999999999999999"])
def test_status_with_an_id_out_of_range_answers_400(client_user: APIClient, ids: str) -> None:
    response = client_user.get("/api/dicom/status/", {"ids": ids})
    assert response.status_code == 400
    assert response.json()["ids"] == ["A transfer id is a whole number from 1 to 9223372036854775807."]


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["99999999999999999999999", "0", "-5"])
def test_audit_log_filter_with_an_id_out_of_range_answers_400(client_admin: APIClient, value: str) -> None:
    response = client_admin.get("/api/dicom/logs/", {"destination": value})
    assert response.status_code == 400
    assert "destination" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["99999999999999999999999", "-1"])
def test_audit_log_page_out_of_range_is_not_a_500(client_admin: APIClient, page: str) -> None:
    response = client_admin.get("/api/dicom/logs/", {"page": page, "page_size": "99999999999999999999999"})
    assert response.status_code in (400, 404)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/dicom/logs/99999999999999999999999/",
        "/api/dicom/transfers/99999999999999999999999/cancel/",
        "/api/dicom/transfers/99999999999999999999999/retry/",
        "/api/destinations/99999999999999999999999/",
        "/api/destinations/99999999999999999999999/test_connection/",
        "/api/auth/users/99999999999999999999999/",
        "/api/auth/users/99999999999999999999999/reset_password/",
    ],
)
def test_huge_ids_in_urls_answer_404(client_admin: APIClient, path: str) -> None:
    writes = ("/cancel/", "/retry/", "test_", "reset_password")
    response = client_admin.post(path) if any(part in path for part in writes) else None
    response = response or client_admin.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_every_numeric_query_parameter_of_the_schema_answers_a_documented_4xx_to_hostile_numbers(
    client_admin: APIClient, admin_user: Any
) -> None:
    """Every query parameter the schema types as a number, on every operation, gets values beyond
    any database integer, negative, and not a number: never a 500, and the answer is documented."""
    from dicom_api.models import Status
    from dicom_api.tests.transfers_helpers import make_transfer

    transfer = make_transfer(admin_user, Status.SUCCESS)
    schema = client_admin.get("/api/schema/?format=json").json()
    tried, statuses = [], set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            numeric = [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and p["schema"].get("type") in {"integer", "number"}
            ]
            concrete = path.replace("{id}", str(transfer.pk))
            for name in numeric:
                for value in ("9" * 25, "9223372036854775808", "-1", "1e400", "nan"):
                    response = client_admin.generic(method.upper(), f"{concrete}?{name}={value}")
                    assert response.status_code < 500, (method, path, name, value, response.content[:200])
                    statuses.add(response.status_code)
                    if response.status_code >= 400:
                        assert str(response.status_code) in operation["responses"], (method, path, response.status_code)
                tried.append(f"{method} {path} {name}")
    # logs: destination, page, page_size; a transfer's instances: page, page_size
    assert len(tried) >= 5, tried
    assert statuses <= {200, 400, 404} and 400 in statuses, statuses
