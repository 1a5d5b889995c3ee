"""The error answers of the API in its OpenAPI schema (shared/API.md: DRF's shapes, the matching status).

drf-spectacular documents the success answer of each operation; this post-processing hook adds
the errors that every client must expect, so that the schema describes every answer the API
gives (the robustness suite checks each response against it):

* 400 where the operation takes a body or query parameters: ``{"field": [messages]}`` (nested
  for list items) or ``{"detail": ...}``;
* 401 everywhere (a missing, expired or forged token; wrong credentials at login);
* 403 where a token is required (an admin-only operation);
* 404 where the path names an object;
* 413 and 415 where the operation takes a body (JSON_MAX_BYTES, an unsupported content type).

An operation that documents one of these itself keeps its own.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer[Any]):
    """``{"detail": ...}``: for views that document an extra error status with ``extend_schema``."""

    detail = serializers.CharField()


_DETAIL = {"$ref": "#/components/schemas/ErrorDetail"}  # the component of ErrorDetailSerializer
_VALIDATION = {"$ref": "#/components/schemas/ValidationError"}

_SCHEMAS: dict[str, Any] = {
    "ErrorDetail": {
        "type": "object",
        "description": "A non-field error.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "ValidationError": {
        "type": "object",
        "description": (
            "Invalid input: each key names a field (or `non_field_errors`, or `detail`), each value "
            "lists its messages; a list or nested field holds the errors of its items by index or key."
        ),
        "additionalProperties": {
            "anyOf": [
                {"type": "array", "items": {}},
                {"type": "object"},
                {"type": "string"},
            ]
        },
    },
}

_DESCRIPTIONS = {
    "400": "Invalid input; the fields at fault are named.",
    "401": "Authentication failed: no token, an invalid or expired one, or wrong credentials.",
    "403": "The caller may not do this (an admin-only operation).",
    "404": "No such object, or not the caller's.",
    "413": "The request body is larger than the server accepts.",
    "415": "Unsupported content type.",
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _also_validation_errors(response: dict[str, Any] | None) -> None:
    """An operation's own 400 body (the import's rejection) is one shape; a bad field is the other."""
    if not response:
        return
    for media in response.get("content", {}).values():
        schema = media.get("schema")
        if schema and schema != _VALIDATION and "anyOf" not in schema:
            media["schema"] = {"anyOf": [schema, _VALIDATION]}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in _SCHEMAS.items():
        components.setdefault(name, schema)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            parameters = operation.get("parameters", [])
            has_body = "requestBody" in operation
            wanted = {"401": _DETAIL}
            if has_body or any(p.get("in") == "query" for p in parameters):
                wanted["400"] = _VALIDATION
            if any(requirement for requirement in operation.get("security", []) or []):
                wanted["403"] = _DETAIL
            if any(p.get("in") == "path" for p in parameters):
                wanted["404"] = _DETAIL
            if has_body:
                wanted["413"] = _DETAIL
                wanted["415"] = _DETAIL
            responses = operation["responses"]
            for code, schema in wanted.items():
                responses.setdefault(code, _json(schema, _DESCRIPTIONS[code]))
            _also_validation_errors(responses.get("400"))
    return result


_METRICS = {
    "get": {
        "operationId": "metrics",
        "summary": "Prometheus metrics (text format)",
        "description": (
            "Transfers by destination and outcome, instances and bytes sent, send time and queue wait "
            "histograms, queue depth and the age of the oldest pending transfer per destination, live "
            "workers, imports and bytes imported (all from the database: the same from every web "
            "process), and HTTP request latency by view (this machine's web processes). No patient "
            "data in any label. The bearer token is `METRICS_TOKEN`; unset, the endpoint is off (404)."
        ),
        "tags": ["metrics"],
        "security": [{"metricsToken": []}],
        "responses": {
            "200": {
                "description": "Prometheus' text exposition format 0.0.4.",
                "content": {"text/plain; version=0.0.4; charset=utf-8": {"schema": {"type": "string"}}},
            },
            "401": _json(_DETAIL, "No bearer token, or not `METRICS_TOKEN`."),
            "404": _json(_DETAIL, "Metrics are off: `METRICS_TOKEN` is unset."),
        },
    }
}


def add_metrics(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry: ``/metrics`` is a plain Django view."""
    result.setdefault("paths", {})["/metrics"] = _METRICS
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["metricsToken"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "The value of the METRICS_TOKEN environment variable (not a user's JWT).",
    }
    return result
