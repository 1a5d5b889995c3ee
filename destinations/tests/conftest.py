from __future__ import annotations

from collections.abc import Callable

import pytest

from destinations.models import Destination


@pytest.fixture
def destination(make_destination: Callable[..., Destination]) -> Destination:
    return make_destination()


@pytest.fixture
def disabled_destination(make_destination: Callable[..., Destination]) -> Destination:
    return make_destination("Old PACS", ae_title="OLDPACS", enabled=False)
