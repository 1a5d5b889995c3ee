"""Ids in URLs: a whole number a database column can hold (1 to 2**63 - 1).

Django's ``<int:pk>`` takes any number of digits, and a huge one made SQLite raise "Python int
too large to convert to SQLite INTEGER" (a 500). ``<id:pk>`` (registered on import of this
module) does not match it: 404. Up to 18 digits, so a router's ``lookup_value_regex`` can use
the same expression.
"""

from __future__ import annotations

from django.urls import register_converter

MAX_ID = 2**63 - 1


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError(value)  # no match: 404
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")
