"""A destination that rejects the association: the worker's run decides from the rejection as data
(transient: the same transfer is tried again later; permanent: it fails at once), against real
pynetdicom peers that reject on purpose."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from destinations.models import Destination
from dicom_api.models import Action, ImportSession, Status, TransferLog
from dicom_api.services.transfer_run import transfer_run
from testsupport.dicom_data import GeneratedSeries
from testsupport.peers import LOOPBACK
from testsupport.rejecting_scp import rejecting_scp

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _short(settings: Any) -> None:
    settings.TRANSFER_MAX_ATTEMPTS = 3
    settings.DICOM_CONNECT_TIMEOUT = settings.DICOM_ACSE_TIMEOUT = settings.DICOM_DIMSE_TIMEOUT = 5


def run_once(user: User, imported: ImportSession, series: GeneratedSeries, destination: Destination) -> TransferLog:
    log = TransferLog.objects.create(
        user=user,
        username=user.username,
        action=Action.SEND,
        status=Status.PENDING,
        import_session=imported,
        series_instance_uid=series.series_instance_uid,
        instance_count=len(series.files),
        destination=destination,
    )
    transfer_run(transfer_id=log.pk, claim_token="test:1:rejection")
    log.refresh_from_db()
    return log


def test_a_busy_destination_is_tried_again_later(
    user: User, imported: ImportSession, series: GeneratedSeries, make_destination: Callable[..., Destination]
) -> None:
    with rejecting_scp("BUSY", busy=True) as port:
        log = run_once(user, imported, series, make_destination(ae_title="BUSY", host=LOOPBACK, port=port))
    assert (log.status, log.attempt, log.instances_sent) == (Status.PENDING, 1, 0)
    assert "busy" in log.error_message
    assert "Local Limit Exceeded" in log.error_message
    assert "Attempt 1 of 3; trying again" in log.error_message
    assert log.details["attempts"][-1]["outcome"] == "peer_busy"


def test_a_destination_that_does_not_know_us_fails_at_once_saying_so(
    user: User,
    imported: ImportSession,
    series: GeneratedSeries,
    make_destination: Callable[..., Destination],
    settings: Any,
) -> None:
    settings.DICOM_CALLING_AE = "STRANGER"
    with rejecting_scp("STRICT", known_calling_ae="FRIEND") as port:
        log = run_once(user, imported, series, make_destination(ae_title="STRICT", host=LOOPBACK, port=port))
    assert (log.status, log.attempt) == (Status.FAILED, 1)
    assert "Calling AE Title Not Recognized" in log.error_message
    assert "'STRANGER'" in log.error_message
    assert "register it" in log.error_message
    assert log.details["attempts"][-1]["outcome"] == "association_rejected"
