"""Query-string filters of the audit log (``GET /api/dicom/logs/``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from dicom_api.models import Action, Status, TransferLog

SEARCH_FIELDS = (
    "patient_name",
    "patient_id",
    "study_instance_uid",
    "series_instance_uid",
    "series_description",
    "destination_name",
)
SEARCH_MAX_TERMS = 8

# Each choice, and the full ORDER BY it stands for: a unique key last, so pages never overlap.
ORDERINGS: dict[str, tuple[Any, ...]] = {
    "timestamp": ("timestamp", "id"),
    "-timestamp": ("-timestamp", "-id"),
    "status": ("status", "-timestamp", "-id"),
    "-status": ("-status", "-timestamp", "-id"),
    "action": ("action", "-timestamp", "-id"),
    "-action": ("-action", "-timestamp", "-id"),
    "patient_name": ("patient_name", "-timestamp", "-id"),
    "-patient_name": ("-patient_name", "-timestamp", "-id"),
    # Unfinished entries (no completed_at) come last either way.
    "completed_at": (F("completed_at").asc(nulls_last=True), "id"),
    "-completed_at": (F("completed_at").desc(nulls_last=True), "-id"),
}

# In a query string an unescaped "+" arrives as a space: "2024-01-31T10:00:00 01:00".
_SPACE_FOR_PLUS = re.compile(r"(?<=\d) (?=\d\d:?\d\d$)")


class DateOrTimestampField(forms.Field):
    """A date (``2024-01-31``) or an ISO 8601 timestamp; a timestamp without offset is UTC."""

    default_error_messages = {
        "invalid": "Enter a date (YYYY-MM-DD) or an ISO 8601 timestamp (YYYY-MM-DDThh:mm[:ss][+hh:mm]).",
    }

    def to_python(self, value: Any) -> date | datetime | None:
        if value in self.empty_values:
            return None
        text = _SPACE_FOR_PLUS.sub("+", str(value).strip())
        try:
            parsed_date = parse_date(text)
            if parsed_date is not None:
                return parsed_date
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before the first representable instant
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class DateOrTimestampFilter(django_filters.Filter):
    field_class = DateOrTimestampField


class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _day_end(day: date) -> datetime | None:
    """Where ``day`` ends (exclusive): the next day's start; None after 9999-12-31."""
    return None if day == date.max else _day_start(day + timedelta(days=1))


class TransferLogFilterForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start is not None and end is not None:
            start_at = start if isinstance(start, datetime) else _day_start(start)
            # A date_to date ends where its next day begins (exclusive); a timestamp is inclusive.
            end_at = end if isinstance(end, datetime) else _day_end(end)
            empty = end_at is not None and (end_at < start_at if isinstance(end, datetime) else end_at <= start_at)
            if empty:
                self.add_error("date_to", "date_to is before date_from.")
        return cleaned


class TransferLogFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=Action.choices)
    status = django_filters.ChoiceFilter(choices=Status.choices)
    # The username recorded in the entry (it outlives renamed and deleted accounts). A non-admin
    # only ever filters their own entries: the queryset is narrowed before any filter applies.
    user = django_filters.CharFilter(field_name="username", max_length=150)
    destination = IdFilter(field_name="destination_id")
    # A deleted destination's entries, by the id they kept (``destination_key``): a filter of its
    # own, so that an id used again (SQLite may, after a table is rebuilt) never mixes the two.
    deleted_destination = IdFilter(method="filter_deleted_destination", label="A deleted destination's id")
    # A destination deleted before entries kept its id: by its name, among the entries that kept
    # only that (a new destination of the same name is not mixed in).
    deleted_destination_name = django_filters.CharFilter(
        method="filter_deleted_destination_name",
        max_length=100,
        strip=False,  # the name as the entries kept it, as deleted-destinations/ lists it
        label="A deleted destination known by its name alone",
    )
    modality = django_filters.CharFilter(field_name="modality", lookup_expr="iexact", max_length=16)
    patient_id = django_filters.CharFilter(field_name="patient_id", max_length=64)
    study_instance_uid = django_filters.CharFilter(field_name="study_instance_uid", max_length=64)
    date_from = DateOrTimestampFilter(method="filter_date_from", label="From (date or timestamp, inclusive)")
    date_to = DateOrTimestampFilter(method="filter_date_to", label="To (date or timestamp, inclusive)")
    search = django_filters.CharFilter(method="filter_search", max_length=200, label="Search")
    ordering = django_filters.ChoiceFilter(
        choices=[(key, key) for key in ORDERINGS], method="filter_ordering", label="Ordering"
    )

    class Meta:
        model = TransferLog
        fields: list[str] = []
        form = TransferLogFilterForm

    def filter_deleted_destination(
        self, queryset: QuerySet[TransferLog], name: str, value: int
    ) -> QuerySet[TransferLog]:
        # The partial index of deleted destinations' entries (the name's condition is its own:
        # said, so that PostgreSQL sees the index applies; a name is there whenever an id is).
        return queryset.filter(destination__isnull=True, destination_key=value).exclude(destination_name="")

    def filter_deleted_destination_name(
        self, queryset: QuerySet[TransferLog], name: str, value: str
    ) -> QuerySet[TransferLog]:
        return queryset.filter(destination__isnull=True, destination_key__isnull=True, destination_name=value)

    def filter_date_from(self, queryset: QuerySet[TransferLog], name: str, value: date) -> QuerySet[TransferLog]:
        start = value if isinstance(value, datetime) else _day_start(value)
        return queryset.filter(timestamp__gte=start)

    def filter_date_to(self, queryset: QuerySet[TransferLog], name: str, value: date) -> QuerySet[TransferLog]:
        if isinstance(value, datetime):
            return queryset.filter(timestamp__lte=value)
        # A date means that whole day.
        end = _day_end(value)
        return queryset if end is None else queryset.filter(timestamp__lt=end)

    def filter_search(self, queryset: QuerySet[TransferLog], name: str, value: str) -> QuerySet[TransferLog]:
        # Every word must appear in one of the fields (PostgreSQL serves this from trigram indexes).
        for term in value.split()[:SEARCH_MAX_TERMS]:
            match = Q()
            for field in SEARCH_FIELDS:
                match |= Q(**{f"{field}__icontains": term})
            queryset = queryset.filter(match)
        return queryset

    def filter_ordering(self, queryset: QuerySet[TransferLog], name: str, value: str) -> QuerySet[TransferLog]:
        return queryset.order_by(*ORDERINGS[value])
