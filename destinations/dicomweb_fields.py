"""The DICOMweb part of a destination in the API: its ``auth`` (the secret write-only) and the
checks of a ``dicomweb`` destination's fields (``dicomweb_validate``, called by the destination
serializer's ``validate``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from destinations.models import AuthType, Destination, Kind, Verify
from dicomnet.dicomweb import is_loopback_url, url_host_port


class DestinationAuthSerializer(serializers.Serializer[Any]):
    """``{type, username, password | token}`` in; ``{type, username, has_secret}`` out."""

    type = serializers.ChoiceField(
        source="auth_type",
        choices=[choice.value for choice in AuthType],
        required=False,
        help_text="`none`, `basic` (HTTP basic: `username` and `password`) or `bearer` (`token`).",
    )
    username = serializers.CharField(source="auth_username", required=False, allow_blank=True, max_length=255)
    password = serializers.CharField(
        write_only=True, required=False, trim_whitespace=False, max_length=4096, help_text="`basic`: write-only."
    )
    token = serializers.CharField(
        write_only=True, required=False, trim_whitespace=False, max_length=16384, help_text="`bearer`: write-only."
    )
    has_secret = serializers.SerializerMethodField(help_text="Whether a password or token is stored.")

    def get_has_secret(self, destination: Destination) -> bool:
        return bool(destination.auth_secret)


def dicomweb_validate(attrs: dict[str, Any], instance: Destination | None) -> dict[str, Any]:
    """The validated fields of a ``dicomweb`` destination (created, updated, or turned into one)."""
    was_web = instance is not None and instance.is_dicomweb
    errors: dict[str, list[str]] = {}
    url: str = attrs.get("url", "") if "url" in attrs else (instance.url if was_web and instance is not None else "")
    if not url:
        errors["url"] = ["This field is required for a DICOMweb destination (its DICOMweb base)."]
    if attrs.get("ae_title"):
        errors["ae_title"] = ["A DICOMweb destination has no AE title: leave it empty."]
    host, port = url_host_port(url) if url else ("", 0)
    if url:
        if attrs.get("host") and attrs["host"] != host:
            errors["host"] = [f"A DICOMweb destination's host is its URL's ({host}): change `url` instead."]
        if attrs.get("port") is not None and attrs["port"] != port:
            errors["port"] = [f"A DICOMweb destination's port is its URL's ({port}): change `url` instead."]

    auth_type = attrs.get("auth_type") or (instance.auth_type if was_web and instance is not None else AuthType.NONE)
    kept = instance is not None and was_web and instance.auth_type == auth_type
    username = attrs.get("auth_username", instance.auth_username if kept and instance is not None else "")
    password, token = attrs.pop("password", None), attrs.pop("token", None)
    secret = instance.auth_secret if kept and instance is not None else ""
    problems: list[str] = []
    if password is not None and token is not None:
        problems.append("Give a `password` (basic) or a `token` (bearer), not both.")
    elif auth_type == AuthType.BASIC:
        if token is not None:
            problems.append("HTTP basic authentication takes a `password`; a `token` is for `bearer`.")
        if not username:
            problems.append("HTTP basic authentication needs a `username`.")
        secret = password if password is not None else secret
        if not secret:
            problems.append("HTTP basic authentication needs a `password`.")
    elif auth_type == AuthType.BEARER:
        if password is not None:
            problems.append("Bearer authentication takes a `token`; a `password` is for `basic`.")
        secret = token if token is not None else secret
        if not secret:
            problems.append("Bearer authentication needs a `token`.")
        username = ""
    else:
        if password is not None or token is not None or username:
            problems.append("Authentication `none` takes no username, password or token.")
        username, secret = "", ""
    if auth_type != AuthType.NONE and url.startswith("http://") and not is_loopback_url(url):
        problems.append(
            "Over plain http:// the password or token would cross the network unencrypted: use an https:// URL."
        )
    if problems:
        errors["auth"] = problems

    ca = attrs.get("ca_certificate", "") if "ca_certificate" in attrs else ""
    if "ca_certificate" not in attrs and was_web and instance is not None:
        ca = instance.ca_certificate
    if ca and url.startswith("http://"):
        if "ca_certificate" in attrs:
            errors["ca_certificate"] = ["A CA certificate is for https:// URLs."]
        ca = ""
    verify = attrs.get("verify") or (instance.verify if instance is not None else Verify.NONE)
    if verify == Verify.C_FIND:
        if "verify" in attrs:
            errors["verify"] = ["`c-find` verifies DICOM destinations; a DICOMweb destination takes `qido-rs`."]
        verify = Verify.NONE
    if attrs.get("max_associations", 1) != 1:
        errors["max_associations"] = ["A DICOMweb destination is sent to over one connection: 1."]
    if errors:
        raise serializers.ValidationError(errors)
    attrs.update(
        max_associations=1,
        kind=Kind.DICOMWEB.value,
        url=url,
        ae_title="",
        host=host,
        port=port,
        auth_type=str(auth_type),
        auth_username=username,
        auth_secret=secret or "",
        ca_certificate=ca or "",
        verify=str(verify),
    )
    return attrs
