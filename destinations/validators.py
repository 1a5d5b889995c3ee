"""Validation of what a destination tells DCMTK (AE title, host, port), for forms and serializers.

The checks themselves are ``dicomnet.addresses`` (the same ones run again right before a value
goes on a DCMTK command line); these wrappers raise django's ``ValidationError`` with the same
messages and codes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import ValidationError

from dicomnet import addresses, dicomweb

Result = TypeVar("Result")


def _django(check: Callable[[Any], Result]) -> Callable[[Any], Result]:
    @wraps(check)
    def wrapper(value: Any) -> Result:
        try:
            return check(value)
        except addresses.AddressError as e:
            # Every problem of the value, each its own message.
            raise ValidationError([ValidationError(message, code=e.code) for message in e.messages]) from None

    return wrapper


clean_ae_title = _django(addresses.clean_ae_title)
validate_ae_title = _django(addresses.validate_ae_title)
clean_host = _django(addresses.clean_host)
validate_host = _django(addresses.validate_host)
validate_port = _django(addresses.validate_port)
clean_dicomweb_url = _django(dicomweb.clean_url)
ca_fingerprints = _django(dicomweb.ca_fingerprints)
