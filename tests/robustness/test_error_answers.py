"""Regression tests for what schemathesis found: errors in HTML instead of JSON, and a schema that
did not document the answers the API gives."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _schema(client: APIClient) -> dict[str, Any]:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_an_api_url_that_matches_no_route_answers_json_404(client_user: APIClient) -> None:
    for path in ("/api/destinations/abc/", "/api/dicom/transfers/x/cancel/", "/api/nothing-here/"):
        response = client_user.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Not found."}


def test_a_page_outside_the_api_keeps_djangos_html_404(client_user: APIClient) -> None:
    response = client_user.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_form_with_too_many_fields_answers_json_413(client_user: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = {"import_id": "e3e70682-c209-4cac-a29f-6fbed82c07cd", "series_instance_uids": ["1.2"] * 20}
    response = client_user.post("/api/dicom/send/", body, format="multipart")
    assert response.status_code == 413
    assert response.json() == {"detail": "The request has more than 10 fields."}


def test_a_json_body_over_the_limit_answers_413_naming_the_limit(client_user: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"import_id": "e3e70682-c209-4cac-a29f-6fbed82c07cd", "series_instance_uids": ["1.2.3"] * 500}
    response = client_user.post("/api/dicom/send/", body, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body exceeds the limit of 1000 bytes (JSON_MAX_BYTES)."}


def test_the_schema_documents_the_error_answers(client_user: APIClient) -> None:
    paths = _schema(client_user)["paths"]
    assert set(paths["/api/auth/login/"]["post"]["responses"]) >= {"200", "400", "401", "429"}
    assert set(paths["/api/destinations/{id}/"]["put"]["responses"]) >= {"200", "400", "401", "403", "404", "413"}
    assert set(paths["/api/dicom/transfers/{id}/cancel/"]["post"]["responses"]) >= {"200", "401", "404", "409"}
    assert set(paths["/api/dicom/transfers/{id}/retry/"]["post"]["responses"]) >= {"202", "401", "404", "409"}
    assert set(paths["/api/dicom/imports/{import_id}/"]["delete"]["responses"]) >= {"204", "404", "409"}
    assert set(paths["/api/dicom/import/"]["post"]["responses"]) >= {"201", "400", "413", "507"}
    assert set(paths["/api/dicom/status/"]["get"]["responses"]) >= {"200", "400", "404"}
    # The import's 400 is its rejection body or a field error (no file sent).
    import_400 = paths["/api/dicom/import/"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert len(import_400["anyOf"]) == 2


def test_the_schema_allows_an_account_without_email(client_admin: APIClient) -> None:
    user = _schema(client_admin)["components"]["schemas"]["User"]
    assert "format" not in user["properties"]["email"]
    assert client_admin.get("/api/auth/user/").json()["email"] == ""


def test_a_form_body_over_the_limit_answers_413(client_user: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = "first_name=" + "a" * 2000
    response = client_user.generic(
        "PATCH", "/api/auth/user/update/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert "JSON_MAX_BYTES" in response.json()["detail"]


def test_a_log_page_past_the_last_answers_a_documented_404(client_user: APIClient) -> None:
    response = client_user.get("/api/dicom/logs/?page=99")
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}
    assert "404" in _schema(client_user)["paths"]["/api/dicom/logs/"]["get"]["responses"]
