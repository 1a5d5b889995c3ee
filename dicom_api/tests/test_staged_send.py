"""The staging step of a send (issue 15) in-process against storescp: the plug-in point of the
send's instance changes (a fake change, one instance held back), chunks of staged copies with
bounded disk, and the rule of a destination's transfer-syntax policy."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from django.contrib.auth.models import User
from pydicom import Dataset
from rest_framework.test import APIClient

from destinations.models import Destination
from dicom_api.models import Action, Delivery, ImportSession, Status, TransferInstance, TransferLog
from dicom_api.services import instance_changes, senders, staged_send
from dicom_api.services.syntax_policy import Choice, choice_for
from dicom_api.services.transfer_run import transfer_run
from dicomnet import dcmsend
from testsupport.dicom_data import generate_series, import_files
from testsupport.peers import LOOPBACK, storescp

EXPLICIT, IMPLICIT, J2K, JLS, JPEG = (
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.50",
)
CT = "1.2.840.10008.5.1.4.1.1.2"


def _log(user: User, imported: ImportSession, series_uid: str, count: int, destination: Destination) -> TransferLog:
    return TransferLog.objects.create(
        user=user,
        username=user.username,
        action=Action.SEND,
        status=Status.PENDING,
        import_session=imported,
        series_instance_uid=series_uid,
        instance_count=count,
        destination=destination,
    )


class _Mark:
    """A fake header change: marks every instance, holds one back."""

    name = "mark"

    def __init__(self, held_back_uid: str) -> None:
        self.held_back_uid = held_back_uid

    def apply(self, dataset: Dataset) -> dict[str, Any] | None:
        if dataset.SOPInstanceUID == self.held_back_uid:
            raise instance_changes.HeldBack("not for this destination (test)")
        dataset.InstitutionName = "CHANGED BY THE SEND"
        return {"InstitutionName": "changed"}

    def settle(self) -> None:
        pass


@pytest.mark.django_db
def test_a_change_of_the_send_reaches_the_staged_copies_and_holds_one_back(
    user: User, tmp_path: Path, make_destination: Callable[..., Destination], monkeypatch: Any
) -> None:
    series = generate_series(tmp_path / "src", 6, patient_name="CHANGES^TEST")
    imported = import_files(user, series.files)
    stored = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in imported.directory.rglob("*") if p.is_file()}
    held = series.sop_instance_uids[2]
    monkeypatch.setattr(instance_changes, "changes_for", lambda *, log, destination: [_Mark(held)])
    with storescp(tmp_path / "received", "CHANGED") as peer:
        destination = make_destination(ae_title="CHANGED", host=LOOPBACK, port=peer.port)
        log = _log(user, imported, series.series_instance_uid, 6, destination)
        transfer_run(transfer_id=log.pk, claim_token="test:1:changes")
        arrived = {str(d.SOPInstanceUID): d for p in peer.directory.iterdir() for d in [pydicom.dcmread(p)]}
    log.refresh_from_db()
    assert log.status == Status.SUCCESS, log.error_message
    assert set(arrived) == set(series.sop_instance_uids) - {held}
    assert {str(d.InstitutionName) for d in arrived.values()} == {"CHANGED BY THE SEND"}
    # Only the header changed: same syntax, same pixels.
    original = pydicom.dcmread(series.files[0])
    copy = arrived[series.sop_instance_uids[0]]
    assert copy.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert np.array_equal(copy.pixel_array, original.pixel_array)
    row = TransferInstance.objects.get(transfer=log, sop_instance_uid=held)
    assert (row.outcome, row.reason) == (Delivery.HELD_BACK, "not for this destination (test)")
    changed = TransferInstance.objects.get(transfer=log, sop_instance_uid=series.sop_instance_uids[0])
    assert changed.changes == [{"change": "mark", "InstitutionName": "changed"}]
    assert (changed.transcoded_from, changed.transcoded_to) == ("", "")
    assert (log.instances_sent, log.instances_failed, log.details["held_back"]) == (5, 0, 1)
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in stored} == stored


@pytest.mark.django_db
def test_staged_copies_go_in_chunks_each_removed_once_sent(
    user: User, tmp_path: Path, make_destination: Callable[..., Destination], monkeypatch: Any
) -> None:
    series = generate_series(tmp_path / "src", 20, patient_name="CHUNKS^TEST")
    imported = import_files(user, series.files)
    monkeypatch.setattr(staged_send, "CHUNK_INSTANCES", 3)
    runs: list[tuple[int, int]] = []  # (files in the run, staged copies on disk when it started)
    original = senders.send_dicom

    def watching(**kwargs: Any) -> dcmsend.SendReport:
        runs.append((len(kwargs["files"]), len(list(kwargs["staging"].copies.iterdir()))))
        return original(**kwargs)

    monkeypatch.setattr(senders, "sender_for", lambda destination: watching)
    with storescp(tmp_path / "received", "CHUNKS") as peer:
        destination = make_destination(ae_title="CHUNKS", host=LOOPBACK, port=peer.port, transfer_syntax_policy=J2K)
        log = _log(user, imported, series.series_instance_uid, 20, destination)
        transfer_run(transfer_id=log.pk, claim_token="test:1:chunks")
        received = peer.received()
    log.refresh_from_db()
    assert log.status == Status.SUCCESS, log.error_message
    assert received == dict.fromkeys(series.sop_instance_uids, J2K)
    assert [files for files, _ in runs] == [3, 3, 3, 3, 3, 3, 2]
    # The chunk being sent, at most one ready and one being made: never the whole series on disk.
    assert max(on_disk for _, on_disk in runs) <= 3 * 3
    assert TransferInstance.objects.filter(transfer=log, transcoded_to=J2K).count() == 20


@pytest.mark.parametrize(
    ("stored", "policy", "lossy_allowed", "accepted", "expected"),
    [
        (EXPLICIT, "as-stored", False, None, Choice(None)),  # nothing known, nothing to do
        (J2K, "as-stored", False, {CT: [IMPLICIT, EXPLICIT]}, Choice(EXPLICIT, required=True)),
        (J2K, "as-stored", False, {CT: [IMPLICIT]}, Choice(IMPLICIT, required=True)),
        (J2K, "as-stored", False, {CT: [J2K, EXPLICIT]}, Choice(None)),
        (EXPLICIT, "as-stored", False, {CT: [IMPLICIT]}, Choice(None)),  # DCMTK converts uncompressed itself
        (J2K, "uncompressed", False, None, Choice(EXPLICIT)),
        (J2K, "uncompressed", False, {CT: [IMPLICIT, J2K]}, Choice(IMPLICIT)),
        (IMPLICIT, "uncompressed", False, None, Choice(None)),
        (EXPLICIT, JLS, False, None, Choice(JLS)),
        (EXPLICIT, JLS, False, {CT: [EXPLICIT]}, Choice(None)),  # it does not accept the preference
        (JPEG, JLS, False, {CT: [JPEG, JLS]}, Choice(None)),  # lossy: kept without the flag
        (JPEG, JLS, True, {CT: [JPEG, JLS]}, Choice(JLS)),
        (JPEG, JLS, False, {CT: [EXPLICIT, JLS]}, Choice(EXPLICIT, required=True)),  # decompressed: no more loss
        (J2K, "as-stored", False, {CT: []}, Choice(None)),  # accepts nothing: dcmsend says so
    ],
)
def test_the_policy_rule(
    stored: str, policy: str, lossy_allowed: bool, accepted: dict[str, list[str]] | None, expected: Choice
) -> None:
    assert (
        choice_for(stored=stored, sop_class=CT, policy=policy, lossy_allowed=lossy_allowed, accepted=accepted)
        == expected
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "status", "message"),
    [
        ("uncompressed", 200, None),
        (J2K, 200, None),
        (" as-stored ", 200, None),
        ("1.2.840.10008.1.2.4.91", 400, "JPEG 2000 Image Compression is lossy"),
        ("jpeg", 400, "'jpeg' is not a transfer-syntax policy"),
    ],
)
def test_an_admin_sets_the_policy(
    client_admin: APIClient, make_destination: Callable[..., Destination], value: str, status: int, message: str | None
) -> None:
    destination = make_destination()
    response = client_admin.patch(
        f"/api/destinations/{destination.pk}/", {"transfer_syntax_policy": value, "lossy_allowed": True}, format="json"
    )
    assert response.status_code == status, response.content
    destination.refresh_from_db()
    if message is None:
        assert response.json()["transfer_syntax_policy"] == value.strip() == destination.transfer_syntax_policy
        assert response.json()["lossy_allowed"] is True
        assert response.json()["accepted_transfer_syntaxes"] is None
    else:
        assert message in response.json()["transfer_syntax_policy"][0]
        assert destination.transfer_syntax_policy == "as-stored"


@pytest.mark.django_db
def test_an_operator_can_not_set_the_policy(
    client_user: APIClient, make_destination: Callable[..., Destination]
) -> None:
    destination = make_destination()
    response = client_user.patch(f"/api/destinations/{destination.pk}/", {"transfer_syntax_policy": J2K}, format="json")
    assert response.status_code == 403
    destination.refresh_from_db()
    assert destination.transfer_syntax_policy == "as-stored"


@pytest.mark.django_db
def test_another_peer_forgets_what_the_probe_found(
    client_admin: APIClient, make_destination: Callable[..., Destination]
) -> None:
    destination = make_destination(accepted_transfer_syntaxes={"probed_at": "2026-01-01T00:00:00Z", "sop_classes": {}})
    response = client_admin.patch(f"/api/destinations/{destination.pk}/", {"description": "x"}, format="json")
    assert response.json()["accepted_transfer_syntaxes"]["probed_at"]
    response = client_admin.patch(f"/api/destinations/{destination.pk}/", {"port": 11113}, format="json")
    assert response.json()["accepted_transfer_syntaxes"] is None
