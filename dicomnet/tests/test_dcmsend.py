"""``dicomnet.dcmsend`` alone, against real receivers: paths the worker tests don't reach."""

from __future__ import annotations

import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dicomnet import dcmsend
from dicomnet.addresses import AddressError
from dicomnet.association import AssociationRequest
from testsupport.dicom_data import generate_series
from testsupport.fault_scp import fault_scp
from testsupport.peers import LOOPBACK, storescp

TIMEOUTS = {"connect_timeout": 2, "acse_timeout": 2, "dimse_timeout": 2}


def peer(called_ae: str, port: int, **changes: Any) -> AssociationRequest:
    values: dict[str, Any] = {"host": LOOPBACK, "calling_ae": "US", **TIMEOUTS, **changes}
    return AssociationRequest(called_ae=called_ae, port=port, **values)


def test_a_series_too_long_for_one_command_line_goes_through_a_folder_of_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = generate_series(tmp_path / "src", 30)
    monkeypatch.setattr(dcmsend, "_MAX_FILE_ARGUMENT_BYTES", 100)
    with storescp(tmp_path / "rx") as scp:
        report = dcmsend.send_files(files=series.files, request=peer(scp.ae_title, scp.port), program="dcmsend")
        assert set(scp.received()) == set(series.sop_instance_uids)
    assert (report.success, report.acknowledged, report.refused) == (True, 30, 0)


def test_a_program_that_hangs_silently_is_stopped_as_a_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    series = generate_series(tmp_path / "src", 2)
    silent = tmp_path / "silent-dcmsend"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(silent.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(dcmsend, "STALL_MARGIN", 0.5)
    started = time.monotonic()
    report = dcmsend.send_files(
        files=series.files,
        request=peer("ANY", 104, connect_timeout=1, acse_timeout=1, dimse_timeout=1),
        program=str(silent),
        tick=0.1,
    )
    assert report.failure is dcmsend.Failure.TIMEOUT
    assert "said nothing" in report.detail
    assert time.monotonic() - started < 6


@pytest.mark.parametrize(
    "text, acknowledged",
    [
        ("Success", True),
        ("Warning: CoercionOfDataElements", True),
        ("Unknown Status: 0x0001", True),
        ("Unknown Status: 0xB007", True),
        ("Refused: OutOfResources", False),
        ("Unknown Status: 0xC123", False),
        ("Error: CannotUnderstand", False),
    ],
)
def test_dimse_statuses_are_classified_as_dcmtk_prints_them(text: str, acknowledged: bool) -> None:
    assert dcmsend._response_acknowledged(text) is acknowledged


def test_the_command_line_never_puts_a_user_value_where_an_option_goes(tmp_path: Path) -> None:
    files = [tmp_path / "a.dcm"]
    checked = peer(' A"B* ', 11112, host="pacs-1.example.org").checked()
    args = dcmsend.dcmsend_command(
        program="/usr/bin/dcmsend", checked=checked, report_file=tmp_path / "r.txt", files=files
    )
    # AE titles only as values of their options; host, port, then files last.
    assert args[args.index("--call") + 1] == 'A"B*'
    assert args[args.index("--aetitle") + 1] == "US"
    assert args[-3:] == ["pacs-1.example.org", "11112", str(files[0])]
    for option in ("--timeout", "--acse-timeout", "--dimse-timeout"):
        assert args[args.index(option) + 1] == "2"


@pytest.mark.parametrize("field", ["called_ae", "calling_ae", "host"])
@pytest.mark.parametrize("bad", ["-h", "+tls", "@/etc/passwd"])
def test_a_value_that_would_be_an_option_is_refused_before_dcmsend_runs(tmp_path: Path, field: str, bad: str) -> None:
    request = replace(peer("PACS", 1, host="h"), **{field: bad})
    with pytest.raises(AddressError, match="begin with"):
        dcmsend.send_files(files=[tmp_path / "a.dcm"], request=request, program="dcmsend")


def test_timeouts_are_rounded_up_like_echoscu_s(tmp_path: Path) -> None:
    checked = peer("PACS", 1, connect_timeout=0.2, acse_timeout=1.5, dimse_timeout=60).checked()
    args = dcmsend.dcmsend_command(program="dcmsend", checked=checked, report_file=tmp_path / "r", files=[])
    assert [args[args.index(o) + 1] for o in ("--timeout", "--acse-timeout", "--dimse-timeout")] == ["1", "2", "60"]


def test_a_refused_instance_is_named_exactly(tmp_path: Path) -> None:
    series = generate_series(tmp_path / "src", 6)
    with fault_scp("PICKY", refuse={series.sop_instance_uids[2]}) as scp:
        report = dcmsend.send_files(files=series.files, request=peer("PICKY", scp.port), program="dcmsend")
    assert (report.acknowledged, report.refused, report.failure) == (5, 1, dcmsend.Failure.INSTANCES_REFUSED)
    assert [o.sop_instance_uid for o in report.instances if not o.acknowledged] == [series.sop_instance_uids[2]]
