"""Paging over tables of millions of rows without counting them all on every request.

An exact ``count(*)`` walks every matching row: over the whole audit log (a million entries and
growing) that is 100 ms or more per page view, while the page itself takes well under 1 ms.
So on PostgreSQL we first ask the planner how many rows it expects (``EXPLAIN``, no execution,
about a millisecond). Below ``EXACT_COUNT_UP_TO`` we count exactly; above it the planner's
estimate is the ``count`` (and ``count_is_estimate`` says so). Paging then doesn't rely on the
estimate: a page fetches one row more than it shows to know whether a next page exists, and any
page number is accepted until a page comes back empty.
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


class EstimatedPage(Page):
    def __init__(self, object_list: Sequence[Any], number: int, paginator: Paginator, *, more: bool) -> None:
        super().__init__(object_list, number, paginator)
        self._more = more

    def has_next(self) -> bool:
        return self._more


class EstimatingPaginator(Paginator):
    """A Paginator whose count is the planner's estimate when the exact one would be costly."""

    @cached_property
    def _estimate(self) -> int | None:
        if not isinstance(self.object_list, QuerySet):
            return None
        estimate = planner_row_estimate(self.object_list)
        return estimate if estimate is not None and estimate > EXACT_COUNT_UP_TO else None

    @property
    def count_is_estimate(self) -> bool:
        return self._estimate is not None

    @cached_property
    def count(self) -> int:
        if self._estimate is not None:
            return self._estimate
        return super().count

    def validate_number(self, number: Any) -> int:
        if not self.count_is_estimate:
            return super().validate_number(number)
        # The estimate may fall short of the truth: no page is refused because of it.
        try:
            value = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if value < 1:
            raise EmptyPage("That page number is less than 1")
        return value

    def page(self, number: Any) -> Page:
        if not self.count_is_estimate:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        return EstimatedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)


class LargeTablePagination(PageNumberPagination):
    """``page`` and ``page_size`` (default 50, capped at 500), with an estimated count when huge."""

    django_paginator_class = EstimatingPaginator
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
