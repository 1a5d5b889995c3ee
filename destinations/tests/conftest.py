from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from destinations.models import Destination


@pytest.fixture
def make_destination(db: None) -> Callable[..., Destination]:
    def make(name: str = "PACS", **fields: Any) -> Destination:
        values: dict[str, Any] = {"ae_title": "PACS", "host": "10.0.0.5", "port": 104, **fields}
        return Destination.objects.create(name=name, **values)

    return make


@pytest.fixture
def destination(make_destination: Callable[..., Destination]) -> Destination:
    return make_destination()


@pytest.fixture
def disabled_destination(make_destination: Callable[..., Destination]) -> Destination:
    return make_destination("Old PACS", ae_title="OLDPACS", enabled=False)
