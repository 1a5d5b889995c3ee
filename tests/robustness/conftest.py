"""Metrics are on in the robustness suite, so ``/metrics`` (in the schema) answers 401 without
its token like every other protected operation, instead of the 404 of an installation without one."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _metrics_on(settings: Any) -> None:
    settings.METRICS_TOKEN = "robustness-metrics-token"
