"""Paging over tables of millions of rows without counting them all on every request.

An exact ``count(*)`` walks every matching row: over the whole audit log (a million entries and
growing) that is 100 ms or more per page view, while the page itself takes well under 1 ms.
So a page is fetched first, one row longer than it shows:

- if that extra row isn't there, this is the last page and the count is known without counting;
- otherwise PostgreSQL's planner is asked how many rows it expects (``EXPLAIN``, nothing is
  executed, about a millisecond). Up to ``EXACT_COUNT_UP_TO`` the rows are counted exactly;
  above it the estimate is the ``count``, and ``count_is_estimate`` says so.

Whether there is a next page never depends on the estimate (the extra row tells), and no page
number is refused because of it: a page past the end is the one that comes back empty.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

EXACT_COUNT_UP_TO = 100_000
MAX_OFFSET = 2**62  # PostgreSQL's OFFSET is a bigint


def planner_row_estimate(queryset: QuerySet[Any]) -> int | None:
    """How many rows PostgreSQL's planner expects ``queryset`` to return; None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        row = cursor.fetchone()
    if row is None:
        return None
    plan = json.loads(row[0]) if isinstance(row[0], str | bytes) else row[0]
    return int(plan[0]["Plan"]["Plan Rows"])


class RowsPage(Page):
    """A page that knows from its extra row whether another page follows."""

    def __init__(self, object_list: Sequence[Any], number: int, paginator: Paginator, *, more: bool) -> None:
        super().__init__(object_list, number, paginator)
        self._more = more

    def has_next(self) -> bool:
        return self._more


class LargeTablePaginator(Paginator):
    """A Paginator that counts only when it must, and estimates when counting would be costly."""

    count_is_estimate = False
    _rows_seen = 0  # rows known to exist: up to the end of the last page fetched

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            estimate = planner_row_estimate(self.object_list)
            if estimate is not None and estimate > EXACT_COUNT_UP_TO:
                self.count_is_estimate = True
                return max(estimate, self._rows_seen)
        return super().count

    def validate_number(self, number: Any) -> int:
        try:
            value = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if value < 1:
            raise EmptyPage("That page number is less than 1")
        if (value - 1) * self.per_page > MAX_OFFSET:
            raise EmptyPage("That page contains no results")
        return value

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        more = len(rows) > self.per_page
        rows = rows[: self.per_page]
        self._rows_seen = bottom + len(rows)
        if not more and "count" not in self.__dict__:
            self.__dict__["count"] = self._rows_seen  # the last page: the count without counting
        return RowsPage(rows, number, self, more=more)


class LargeTablePagination(PageNumberPagination):
    """``page`` and ``page_size`` (default 50, capped at 500), with an estimated count when huge."""

    django_paginator_class = LargeTablePaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500  # a larger page_size is capped to this

    def get_paginated_response(self, data: Any) -> Response:
        assert self.page is not None
        paginator = self.page.paginator
        return Response(
            OrderedDict(
                [
                    ("count", paginator.count),
                    ("count_is_estimate", getattr(paginator, "count_is_estimate", False)),
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("results", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count_is_estimate"] = {
            "type": "boolean",
            "description": f"True when more than {EXACT_COUNT_UP_TO:,} entries match: `count` is then "
            "PostgreSQL's estimate, not an exact count.",
        }
        return response
