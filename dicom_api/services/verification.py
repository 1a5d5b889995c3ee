"""Verification: after a successful send, ask the destination which instances of the series it
holds (a C-FIND at IMAGE level, ``dicomnet.cfind``; for a DICOMweb destination QIDO-RS at
instance level, ``dicomnet.dicomweb``), and compare with what it acknowledged.

A transfer's ``verification`` is null (never asked) or ``{state, held, missing, message}``:
``pending`` (being asked), ``verified`` (every delivered instance is held), ``incomplete``
(``missing`` names those it does not hold), or ``unsupported`` (it does not answer C-FIND: said
as such, the transfer stays ``success``). It is not a state of the transfer, only a record on it.
"""

from __future__ import annotations

import logging
from typing import Any

from destinations.models import Destination, Verify
from dicom_api import queue
from dicom_api.models import DELIVERED, Action, Status, TransferInstance, TransferLog
from dicom_api.services.connection import destination_association
from dicom_api.services.dicomweb import destination_target
from dicom_transfer.exceptions import ConflictError
from dicomnet import dicomweb
from dicomnet.addresses import AddressError
from dicomnet.cfind import find_series_instances

logger = logging.getLogger(__name__)

MISSING_LISTED = 1000


def _write(transfer_id: int, verification: dict[str, Any]) -> None:
    TransferLog.objects.filter(pk=transfer_id, action=Action.SEND).update(verification=verification)


def wanted(destination: Destination | None) -> bool:
    return destination is not None and destination.verify in (Verify.C_FIND, Verify.QIDO_RS)


def verification_request(*, log: TransferLog) -> TransferLog:
    """Ask again (the API): a successful transfer is verified by a worker, now."""
    if log.status != Status.SUCCESS:
        raise ConflictError(f"Only a successful transfer can be verified; this one is {log.status}.")
    if log.destination_id is None:
        raise ConflictError("The destination of this transfer was deleted.")
    _write(log.pk, {"state": "pending", "held": None, "missing": [], "message": ""})
    queue.enqueue_verification_on_commit(log.pk)
    log.refresh_from_db()
    return log


def transfer_verify(transfer_id: int) -> dict[str, Any] | None:
    """Ask the destination and record the answer; returns it (None: nothing to verify)."""
    log = TransferLog.objects.filter(pk=transfer_id, action=Action.SEND, status=Status.SUCCESS).first()
    if log is None or log.destination_id is None:
        return None
    destination = Destination.objects.filter(pk=log.destination_id).first()
    if destination is None:
        return None
    _write(log.pk, {"state": "pending", "held": None, "missing": [], "message": ""})
    expected = set(
        TransferInstance.objects.filter(transfer_id=log.pk, outcome__in=DELIVERED).values_list(
            "sop_instance_uid", flat=True
        )
    )
    service = "QIDO-RS" if destination.is_dicomweb else "C-FIND"
    try:
        if destination.is_dicomweb:
            found = dicomweb.find_series_instances(
                destination_target(destination),
                study_instance_uid=log.study_instance_uid,
                series_instance_uid=log.series_instance_uid,
            )
        else:
            found = find_series_instances(
                destination_association(destination),
                study_instance_uid=log.study_instance_uid,
                series_instance_uid=log.series_instance_uid,
            )
    except (AddressError, ValueError) as e:
        result: dict[str, Any] = {"state": "pending", "held": None, "missing": [], "message": str(e)}
        _write(log.pk, result)
        return result
    if not found.answered:
        state = "unsupported" if found.reached else "pending"
        message = (
            f"{found.message} This destination does not answer {service}: the transfer can't be verified there."
            if found.reached
            else f"{found.message} Verify again later."
        )
        result = {"state": state, "held": None, "missing": [], "message": message}
    else:
        missing = sorted(expected - found.sop_instance_uids)
        held = len(expected) - len(missing)
        result = {
            "state": "incomplete" if missing else "verified",
            "held": held,
            "missing": missing[:MISSING_LISTED],
            "message": f"{held} of {len(expected)} held"
            + (f"; {len(missing)} not held by the destination." if missing else "."),
        }
    _write(log.pk, result)
    logger.info("transfer %s: verification %s", log.pk, result["state"])
    return result


def verify_after_send(transfer_id: int) -> None:
    """Called by the worker after a success: verify when the destination asks for it."""
    log = TransferLog.objects.filter(pk=transfer_id).only("destination_id").first()
    if log is None or log.destination_id is None:
        return
    if wanted(Destination.objects.filter(pk=log.destination_id).first()):
        try:
            transfer_verify(transfer_id)
        except Exception:  # a failed verification never undoes the send
            logger.exception("transfer %s: verification failed", transfer_id)
            _write(
                transfer_id,
                {"state": "pending", "held": None, "missing": [], "message": "The verification failed; verify again."},
            )
