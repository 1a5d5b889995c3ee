"""How the ledger is stored, and what is read from it at the end of an attempt: the bytes a
transfer delivered (``byte_count``, summed over the ledger's sizes, or over the import for a ledger
made before it kept them), and outcomes written in place (HOT updates, no index touched), which
is what keeps a send of many small instances as fast as before the ledger (docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from destinations.models import Destination
from dicom_api.models import DicomInstance, ImportSession, Status, TransferInstance, TransferLog
from dicom_api.services import transfer_ledger as ledger
from dicom_api.services.transfer_run import transfer_run
from dicom_api.services.transfers import transfers_create
from dicomnet.dcmsend import FileOutcome
from testsupport.dicom_data import generate_series, import_files
from testsupport.fault_scp import fault_scp
from testsupport.peers import LOOPBACK, storescp


def _queue(user: User, imported: ImportSession, series_uid: str, destination: Destination) -> TransferLog:
    """A transfer queued as ``POST /send/`` queues it (its ledger made by the same service)."""
    [log] = transfers_create(
        user=user, import_id=imported.pk, series_instance_uids=[series_uid], destination_ids=[destination.pk]
    )
    return log


def _send_to(
    peer: Any, user: User, imported: ImportSession, series_uid: str, make: Callable[..., Destination]
) -> TransferLog:
    """Queue the series to ``peer`` and run the attempt in this process, as a worker would."""
    log = _queue(user, imported, series_uid, make(ae_title=peer.ae_title, host=LOOPBACK, port=peer.port))
    transfer_run(transfer_id=log.pk, claim_token=f"test:1:{peer.ae_title}")
    log.refresh_from_db()
    return log


def _imported_sizes(imported: ImportSession) -> dict[str, int]:
    return dict(DicomInstance.objects.filter(import_session=imported).values_list("sop_instance_uid", "size_bytes"))


@pytest.mark.django_db
def test_the_bytes_delivered_are_the_imported_sizes_of_the_instances_the_destination_stored(
    user: User, tmp_path: Path, make_destination: Callable[..., Destination]
) -> None:
    series = generate_series(tmp_path / "src", 8, patient_name="BYTES^TEST")
    imported = import_files(user, series.files)
    refused = series.sop_instance_uids[3]
    with fault_scp("BYTES", refuse={refused}) as peer:
        log = _send_to(peer, user, imported, series.series_instance_uid, make_destination)
        arrived = {sop for sop, _ in peer.arrivals}
    sizes = _imported_sizes(imported)
    stored_on_disk = {p.name: p.stat().st_size for p in imported.directory.rglob("*.dcm")}
    assert sum(sizes.values()) == sum(stored_on_disk.values())
    assert arrived == set(series.sop_instance_uids) - {refused}
    assert log.status == Status.FAILED
    assert log.instances_sent == 7
    assert log.byte_count == sum(size for sop, size in sizes.items() if sop != refused)
    # The ledger keeps each instance's size from the moment it is made.
    assert dict(TransferInstance.objects.filter(transfer=log).values_list("sop_instance_uid", "size_bytes")) == sizes
    # A ledger made before it kept sizes gives the same total, read from the import.
    TransferInstance.objects.filter(transfer=log).update(size_bytes=None)
    assert ledger.ledger_summary(log).bytes_delivered == log.byte_count


@pytest.mark.django_db
def test_a_whole_series_sent_counts_every_byte_and_nothing_transcoded(
    user: User, tmp_path: Path, make_destination: Callable[..., Destination]
) -> None:
    series = generate_series(tmp_path / "src", 6, patient_name="BYTES^WHOLE")
    imported = import_files(user, series.files)
    with storescp(tmp_path / "received", "WHOLE") as peer:
        log = _send_to(peer, user, imported, series.series_instance_uid, make_destination)
        received = peer.received()
    assert log.status == Status.SUCCESS, log.error_message
    assert set(received) == set(series.sop_instance_uids)
    assert log.byte_count == sum(_imported_sizes(imported).values())
    summary = ledger.ledger_summary(log)
    assert (summary.counts.delivered, summary.transcoded) == (6, [])
    assert "transcoded" not in log.details


@pytest.mark.django_db
def test_a_series_whose_files_are_gone_fails_naming_why_and_sends_nothing(
    user: User, tmp_path: Path, make_destination: Callable[..., Destination]
) -> None:
    series = generate_series(tmp_path / "src", 5, patient_name="GONE^TEST")
    imported = import_files(user, series.files)
    next(iter(sorted(imported.directory.rglob("*.dcm")))).unlink()
    with storescp(tmp_path / "received", "GONE") as peer:
        log = _send_to(peer, user, imported, series.series_instance_uid, make_destination)
        received = peer.received()
    assert received == {}
    assert log.status == Status.FAILED
    assert log.error_message.startswith("The files of this series are no longer on the server")


@pytest.mark.django_db
def test_outcomes_are_written_in_place_without_touching_an_index(
    user: User, tmp_path: Path, make_destination: Callable[..., Destination]
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("HOT updates and fillfactor are PostgreSQL's")
    series = generate_series(tmp_path / "src", 300, patient_name="HOT^TEST")
    imported = import_files(user, series.files)
    log = _queue(user, imported, series.series_instance_uid, make_destination())
    rows = ledger.ledger_to_send(log.pk)
    table = TransferInstance._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
        assert cursor.fetchone()[0] == ["fillfactor=50"]
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        indexes = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT pg_stat_get_xact_tuples_hot_updated(%s::regclass)", [table])
        hot_before = cursor.fetchone()[0]
        ledger.ledger_record(rows, [FileOutcome(i, True, 0x0000, "Success") for i in range(len(rows))])
        cursor.execute("SELECT pg_stat_get_xact_tuples_hot_updated(%s::regclass)", [table])
        hot_after = cursor.fetchone()[0]
    # The primary key and the unique (transfer, SOP Instance UID) index: nothing on the outcome.
    assert len(indexes) == 2, indexes
    assert not any("outcome" in index for index in indexes)
    assert ledger.ledger_counts(log.pk).delivered == 300
    assert hot_after - hot_before == 300


@pytest.mark.django_db
def test_a_transfer_removed_takes_its_ledger_with_it(
    user: User, tmp_path: Path, make_destination: Callable[..., Destination]
) -> None:
    # The ledger has no foreign-key constraint in the database (its cost at every /send/): the
    # cascade is Django's. Transfers are never deleted by the service; if one is, nothing is left.
    series = generate_series(tmp_path / "src", 4, patient_name="CASCADE^TEST")
    imported = import_files(user, series.files)
    log = _queue(user, imported, series.series_instance_uid, make_destination())
    other = _queue(user, imported, series.series_instance_uid, make_destination("OTHER"))
    assert TransferInstance.objects.filter(transfer=log).count() == 4
    log.delete()
    assert not TransferInstance.objects.filter(transfer_id=log.pk).exists()
    assert TransferInstance.objects.filter(transfer=other).count() == 4
