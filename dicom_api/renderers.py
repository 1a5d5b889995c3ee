"""CSV output: a renderer DRF can negotiate (``?format=csv``) and a streaming writer.

Spreadsheets run a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return) as a formula; patient names and error messages come from outside, so such a cell is
prefixed with a single quote (OWASP, "CSV Injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer

FORMULA_PREFIXES = frozenset("=+-@\t\r")
CHUNK_CHARS = 64 * 1024  # one write to the client per ~64 KB, not one per row


def csv_safe(value: Any) -> Any:
    """``value``, defused if a spreadsheet would read it as a formula."""
    if value.__class__ is str and value and value[0] in FORMULA_PREFIXES:
        return "'" + value
    return value


def csv_stream(rows: Iterable[Iterable[Any]]) -> Iterator[bytes]:
    """Encode ``rows`` as CSV in chunks of about 64 KB: memory stays bounded whatever the count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([csv_safe(value) for value in row])
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


class CSVRenderer(BaseRenderer):
    """Lets ``?format=csv`` through content negotiation.

    Views stream their CSV themselves (see ``csv_stream``); this renders what still reaches a
    renderer, a single object or a list of flat objects.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        if data is None:
            return b""
        items = data if isinstance(data, list) else [data]
        headers: list[str] = list(items[0]) if items and isinstance(items[0], dict) else []
        rows: list[list[Any]] = [headers]
        rows.extend([item.get(header, "") for header in headers] for item in items if isinstance(item, dict))
        return b"".join(csv_stream(rows))
