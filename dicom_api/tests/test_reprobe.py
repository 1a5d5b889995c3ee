"""Housekeeping probes a destination again once its record of accepted transfer syntaxes is older
than ``DESTINATION_PROBE_INTERVAL`` (a PACS's configuration changes), against a real storescp;
destinations that are not due, or claimed by another worker, are left alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from destinations.models import Destination
from dicom_api.services import syntax_policy
from dicom_api.services.housekeeping import run_housekeeping
from testsupport.peers import LOOPBACK, storescp

CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT, J2K = "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.90"


def _ago(**delta: float) -> str:
    return (timezone.now() - timedelta(**delta)).isoformat()


def _stale(**extra: str) -> dict[str, Any]:
    """A record that says the destination takes CT in JPEG 2000 only (what it no longer does)."""
    return {"probed_at": _ago(hours=25), "message": "", "sop_classes": {CT: [J2K]}, **extra}


@pytest.mark.django_db
def test_a_record_older_than_the_interval_is_probed_again(
    tmp_path: Path, make_destination: Callable[..., Destination]
) -> None:
    with storescp(tmp_path / "scp", "REPROBE", extra_args=["+xi"]) as scp:
        destination = make_destination(
            ae_title="REPROBE", host=LOOPBACK, port=scp.port, accepted_transfer_syntaxes=_stale()
        )
        done = run_housekeeping(only="reprobe_destinations")
    destination.refresh_from_db()
    record = destination.accepted_transfer_syntaxes
    assert done == {"reprobe_destinations": 1}
    assert record["sop_classes"][CT] == [IMPLICIT]
    assert (timezone.now() - datetime.fromisoformat(record["probed_at"])).total_seconds() < 60
    assert "probing_since" not in record and record["message"] == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"accepted_transfer_syntaxes": {"probed_at": _ago(hours=1), "sop_classes": {CT: [J2K]}}}, "recent"),
        ({"accepted_transfer_syntaxes": _stale(probing_since=_ago(minutes=1))}, "claimed by another worker"),
        ({"accepted_transfer_syntaxes": _stale(failed_at=_ago(hours=2))}, "failed within the interval"),
        ({"accepted_transfer_syntaxes": None}, "never probed"),
        ({"accepted_transfer_syntaxes": _stale(), "enabled": False}, "disabled"),
        ({"accepted_transfer_syntaxes": _stale(), "reachable": False}, "unreachable"),
    ],
)
def test_a_destination_not_due_is_left_alone(
    tmp_path: Path, make_destination: Callable[..., Destination], fields: dict[str, Any], why: str
) -> None:
    with storescp(tmp_path / "scp", "REPROBE", extra_args=["+xi"]) as scp:
        destination = make_destination(ae_title="REPROBE", host=LOOPBACK, port=scp.port, **fields)
        done = run_housekeeping(only="reprobe_destinations")
    destination.refresh_from_db()
    assert done == {"reprobe_destinations": 0}, why
    assert destination.accepted_transfer_syntaxes == fields["accepted_transfer_syntaxes"], why


@pytest.mark.django_db
def test_a_failed_periodic_probe_keeps_the_record_and_waits_an_interval(
    tmp_path: Path, make_destination: Callable[..., Destination], settings: Any
) -> None:
    with storescp(tmp_path / "scp", "REPROBE") as scp:
        port = scp.port
    settings.DICOM_CONNECT_TIMEOUT = 1
    stale = _stale()
    destination = make_destination(ae_title="REPROBE", host=LOOPBACK, port=port, accepted_transfer_syntaxes=stale)
    assert run_housekeeping(only="reprobe_destinations") == {"reprobe_destinations": 1}
    destination.refresh_from_db()
    record = destination.accepted_transfer_syntaxes
    assert record["sop_classes"] == stale["sop_classes"] and record["probed_at"] == stale["probed_at"]
    assert record["failed_at"] and "No association could be made" in record["message"]
    assert "probing_since" not in record
    # Not tried again at the next round: its failure is recent.
    assert run_housekeeping(only="reprobe_destinations") == {"reprobe_destinations": 0}


@pytest.mark.django_db
def test_only_one_of_two_workers_probes_a_destination(
    make_destination: Callable[..., Destination], monkeypatch: Any
) -> None:
    destination = make_destination(accepted_transfer_syntaxes=_stale())
    probed: list[int] = []

    def probe(*, destination: Destination, **_: Any) -> dict[str, Any]:
        probed.append(destination.pk)
        # Meanwhile another worker's round finds the record claimed.
        assert syntax_policy.destinations_reprobe() == 0
        return {}

    monkeypatch.setattr(syntax_policy, "destination_probe", probe)
    assert syntax_policy.destinations_reprobe() == 1
    assert probed == [destination.pk]


@pytest.mark.django_db
def test_the_interval_off_probes_nothing(make_destination: Callable[..., Destination], settings: Any) -> None:
    settings.DESTINATION_PROBE_INTERVAL = 0
    make_destination(accepted_transfer_syntaxes=_stale())
    assert syntax_policy.destinations_reprobe() == 0
