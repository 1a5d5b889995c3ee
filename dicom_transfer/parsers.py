"""Request parsers that honour the body limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``, env JSON_MAX_BYTES).

DRF's JSON and form parsers read the request stream themselves, past Django's check of
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (it guards ``request.body`` and ``request.POST`` only), so a body
of any size would be read into memory. These parsers refuse a body whose Content-Length is over
the limit with 413 before reading it; the WSGI server never hands over more than Content-Length.
Multipart bodies go through Django's own parser, which enforces the limit on form fields and
streams files to disk (the import has its own limits, dicom_api/uploads.py).

A JSON body nested deeper than ``JSON_MAX_DEPTH`` is refused with 400 before it is parsed:
Python's parser recurses per level and 200,000 nested arrays would end in a RecursionError.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
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


# No body of this API nests beyond 3 levels; 32 leaves room and stays far from the recursion limit.
JSON_MAX_DEPTH = 32
# A JSON string (with its escapes): brackets inside strings do not nest.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def check_json_depth(raw: bytes, limit: int = JSON_MAX_DEPTH) -> None:
    """Raise ParseError (400) if ``raw`` opens more than ``limit`` arrays/objects at once.

    Counts brackets outside strings only, without parsing; linear in the size of the body."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for char in brackets:
        if char in b"[{":
            depth += 1
            if depth > limit:
                raise ParseError(f"JSON parse error - the body is nested deeper than {limit} levels.")
        else:
            depth -= 1


class LimitedJSONParser(JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        check_body_size(parser_context)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:  # a chunked body without Content-Length
            raise BodyTooLarge(f"The request body exceeds the limit of {limit} bytes (JSON_MAX_BYTES).")
        check_json_depth(raw)
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:  # a last fence; the depth check above should make it unreachable
            raise ParseError("JSON parse error - the body is nested too deeply.") from None


class LimitedFormParser(FormParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        check_body_size(parser_context)
        return super().parse(stream, media_type, parser_context)
