"""Request parsers that honour the body limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``, env JSON_MAX_BYTES).

DRF's JSON and form parsers read the request stream themselves, past Django's check of
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (it guards ``request.body`` and ``request.POST`` only), so a body
of any size would be read into memory. These parsers refuse a body whose Content-Length is over
the limit with 413 before reading it; the WSGI server never hands over more than Content-Length.
Multipart bodies go through Django's own parser, which enforces the limit on form fields and
streams files to disk (the import has its own limits, dicom_api/uploads.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, JSONParser


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "body_too_large"


def check_body_size(parser_context: Mapping[str, Any] | None) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    request = (parser_context or {}).get("request")
    if limit is None or request is None:
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise BodyTooLarge(f"The request body exceeds the limit of {limit} bytes (JSON_MAX_BYTES).")


class LimitedJSONParser(JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        check_body_size(parser_context)
        return super().parse(stream, media_type, parser_context)


class LimitedFormParser(FormParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        check_body_size(parser_context)
        return super().parse(stream, media_type, parser_context)
