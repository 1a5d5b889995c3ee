"""Reading configuration from the environment, failing loudly.

Every helper raises ``ImproperlyConfigured`` naming the variable, so a bad deployment stops at
start-up with a message an operator can act on instead of misbehaving later.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"{name} must be set.")
        return default if default is not None else ""
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), got {value!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}.")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name} must be a finite number, got {value!r}.")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}


def env_bytes(name: str, default: int) -> int:
    """A size such as ``4G``, ``500M`` or ``1048576``."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    text = value.strip().upper()
    digits = text.rstrip("BKMG")
    unit = text[len(digits) :]
    if unit not in _SIZE_UNITS or not digits.isdigit():
        raise ImproperlyConfigured(f"{name} must be a size such as 500M or 4G, got {value!r}.")
    return int(digits) * _SIZE_UNITS[unit]


def env_duration(name: str, default: float) -> float:
    """A duration in seconds, or with a unit: ``90``, ``30s``, ``15m``, ``24h``, ``7d``."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    text = value.strip().lower()
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1:], None)
    number_text = text[:-1] if factor else text
    try:
        number = float(number_text)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a duration such as 90, 15m or 24h, got {value!r}.") from None
    if number <= 0 or number != number or number == float("inf"):
        raise ImproperlyConfigured(f"{name} must be a positive duration, got {value!r}.")
    return number * (factor or 1)


_RATE_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def env_rate(name: str, default: str) -> tuple[int, int]:
    """A rate such as ``10/min`` or ``100/h``: (attempts, period in seconds)."""
    value = os.environ.get(name)
    text = (default if value is None or value.strip() == "" else value).strip().lower()
    count, _, period = text.partition("/")
    if not count.strip().isdigit() or int(count) < 1 or period.strip() not in _RATE_PERIODS:
        raise ImproperlyConfigured(f"{name} must be a rate such as 10/min or 100/h, got {value!r}.")
    return int(count), _RATE_PERIODS[period.strip()]
