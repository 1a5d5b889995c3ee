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

from dicomnet import addresses

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


# De-identification on the way out (PS3.15 Annex E): the profile and the options a destination may
# carry (applied by ``dicom_api.services.deidentification``).
DEIDENTIFICATION_PROFILES = ("basic",)
DEIDENTIFICATION_OPTIONS = (
    "retain_longitudinal_modified_dates",
    "retain_patient_characteristics",
    "retain_device_identity",
    "clean_descriptors",
    "allow_burned_in_annotation",
)
NOT_SUPPORTED_OPTIONS = {
    "retain_safe_private": "retain_safe_private is not supported: it needs the list of vendors' safe private "
    "attributes, which this installation does not hold; private attributes are always removed.",
}


def clean_deidentification(value: Any) -> dict[str, Any] | None:
    """``null``, or ``{profile: "basic", options: [...]}`` with known options, each once."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError('deidentification: null or {"profile": "basic", "options": [...]}.')
    unknown_keys = sorted(set(value) - {"profile", "options"})
    if unknown_keys:
        raise ValidationError(f"deidentification: unknown key(s) {', '.join(unknown_keys)}.")
    profile = value.get("profile")
    if profile not in DEIDENTIFICATION_PROFILES:
        raise ValidationError(f"deidentification.profile: one of {', '.join(DEIDENTIFICATION_PROFILES)}.")
    options = value.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ValidationError("deidentification.options: a list of option names.")
    for option in options:
        if option in NOT_SUPPORTED_OPTIONS:
            raise ValidationError(NOT_SUPPORTED_OPTIONS[option])
    unknown = sorted(set(options) - set(DEIDENTIFICATION_OPTIONS))
    if unknown:
        raise ValidationError(
            f"deidentification.options: unknown {', '.join(unknown)}; known: {', '.join(DEIDENTIFICATION_OPTIONS)}."
        )
    return {"profile": profile, "options": sorted(set(options))}
