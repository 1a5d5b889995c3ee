"""``dicomnet.echoscu``: the command line it builds, and how it reads echoscu's answers."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicomnet.addresses import AddressError
from dicomnet.association import AssociationRequest, RejectionResult
from dicomnet.echoscu import EchoCategory, EchoResult, echo, echoscu_command, interpret
from testsupport import peers
from testsupport.rejecting_scp import rejecting_scp

OPTIONS = {"--verbose", "--aetitle", "--call", "--timeout", "--acse-timeout", "--dimse-timeout"}
FORBIDDEN = ["-h", "+tls", "@/etc/passwd", " -h", "--help"]
DEFAULTS: dict[str, Any] = {"calling_ae": "DICOMTRANSFER", "connect_timeout": 5, "acse_timeout": 5, "dimse_timeout": 5}


def command(**changes: Any) -> list[str]:
    arguments: dict[str, Any] = {
        "called_ae": "PACS",
        "host": "10.0.0.5",
        "port": 104,
        "calling_ae": "DICOMTRANSFER",
        "connect_timeout": 1,
        "acse_timeout": 2,
        "dimse_timeout": 3,
        **changes,
    }
    return echoscu_command(program="/usr/bin/echoscu", checked=AssociationRequest(**arguments).checked())


def echo_with(*, ae_title: str, program: str = "echoscu", **arguments: Any) -> EchoResult:
    return echo(AssociationRequest(called_ae=ae_title, **{**DEFAULTS, **arguments}), program=program)


@pytest.mark.parametrize(
    ("ae_title", "calling_ae", "host", "port"),
    [
        (' A"B*', "X'Y", "::1", 1),
        ("a-b+c@d", "=>?[]^`{|}~", "2001:db8::ff00:42:8329", 65535),
        ("$(id)", "; rm -rf /", "x-1.example-2.org", 104),
        ("ABCDEFGHIJKLMNOP", "  A  ", "255.255.255.255", 11112),
        ("A B", "!#$%&'()*,./:;<", "localhost", 4242),
    ],
)
def test_no_user_value_is_ever_at_an_option_position(ae_title: str, calling_ae: str, host: str, port: int) -> None:
    built = command(called_ae=ae_title, calling_ae=calling_ae, host=host, port=port)
    assert built == [
        "/usr/bin/echoscu",
        "--verbose",
        "--aetitle",
        calling_ae.strip(),
        "--call",
        ae_title.strip(),
        "--timeout",
        "1",
        "--acse-timeout",
        "2",
        "--dimse-timeout",
        "3",
        host,
        str(port),
    ]
    # Every argument that DCMTK could read as an option or an include file is one of ours.
    for argument in built[1:]:
        if argument.startswith(("-", "+", "@")):
            assert argument in OPTIONS
    # User values are only option values or the two final positional arguments.
    for value in (calling_ae.strip(), ae_title.strip()):
        assert built[built.index(value) - 1] in {"--aetitle", "--call"}
    assert built[-2:] == [host, str(port)]


@pytest.mark.parametrize("value", FORBIDDEN)
@pytest.mark.parametrize("field", ["called_ae", "calling_ae", "host"])
def test_a_value_that_would_be_an_option_never_makes_a_command_line(field: str, value: str) -> None:
    with pytest.raises(AddressError):
        command(**{field: value})


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_an_invalid_port_never_makes_a_command_line(port: int) -> None:
    with pytest.raises(AddressError):
        command(port=port)


def test_timeouts_are_whole_seconds_rounded_up_and_at_least_one() -> None:
    built = command(connect_timeout=2.5, acse_timeout=1.01, dimse_timeout=0.2)
    assert built[built.index("--timeout") : built.index("--dimse-timeout") + 2] == [
        "--timeout",
        "3",
        "--acse-timeout",
        "2",
        "--dimse-timeout",
        "1",
    ]
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive number of seconds"):
            command(acse_timeout=bad)


def test_strange_valid_ae_titles_reach_the_peer_intact(tmp_path: Path) -> None:
    with peers.storescp(tmp_path / "scp", "STORESCP") as scp:  # storescp answers any called AE title
        result = echo_with(ae_title=' A"B*', calling_ae="$(id);X", host="127.0.0.1", port=scp.port)
    assert result.success is True
    assert result.category == EchoCategory.OK
    assert "'A\"B*'" in result.message


def test_an_invalid_calling_ae_or_timeout_is_not_tested_and_says_which() -> None:
    result = echo_with(ae_title="PACS", host="127.0.0.1", port=104, calling_ae="-bad")
    assert (result.success, result.category) == (False, EchoCategory.INVALID)
    assert result.message.startswith("Not tested, the calling AE title: ")
    assert "may not begin with '-'" in result.message
    result = echo_with(ae_title="PACS", host="127.0.0.1", port=104, acse_timeout=0)
    assert (result.category, result.message) == (
        EchoCategory.INVALID,
        "Not tested: the ACSE timeout must be a positive number of seconds, got 0.",
    )


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full: the kernel drops new SYNs, so connecting times out."""
    server = socket.socket()
    server.bind((peers.LOOPBACK, 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect((peers.LOOPBACK, port))
        fillers.append(filler)
    time.sleep(0.1)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def test_a_connection_that_is_never_accepted_times_out_in_the_connect_timeout(full_backlog: int) -> None:
    started = time.monotonic()
    result = echo_with(ae_title="PACS", host="127.0.0.1", port=full_backlog, connect_timeout=1)
    assert time.monotonic() - started < 1 + 3  # margin for a loaded CI machine
    assert (result.success, result.category) == (False, EchoCategory.TIMEOUT)
    assert "(Timeout)" in result.message


def test_success_is_read_from_the_output_not_the_exit_code(tmp_path: Path) -> None:
    fake = tmp_path / "echoscu"
    fake.write_text("#!/bin/sh\necho 'I: Requesting Association' >&2\nexit 0\n")
    fake.chmod(0o755)
    result = echo_with(ae_title="PACS", host="127.0.0.1", port=104, program=str(fake))
    assert (result.success, result.category) == (False, EchoCategory.OTHER)
    assert "exit code 0" in result.message


def test_a_program_that_does_not_exist_says_to_install_dcmtk() -> None:
    result = echo_with(ae_title="PACS", host="127.0.0.1", port=104, program="/nonexistent/echoscu")
    assert (result.success, result.category) == (False, EchoCategory.NOT_INSTALLED)
    assert "Install DCMTK" in result.message


def interpreted(output: str) -> tuple[EchoCategory, str]:
    checked = AssociationRequest(called_ae="PACS", host="pacs", port=104, **DEFAULTS).checked()
    return interpret(output, returncode=1, checked=checked)


def test_a_rejected_calling_ae_title_says_to_register_ours() -> None:
    # DCMTK 3.6.7's words (ASC_printRejectParameters), as for the called AE title measured against Orthanc.
    category, message = interpreted(
        "I: Requesting Association\nF: Association Rejected:\n"
        "F: Result: Rejected Permanent, Source: Service User\nF: Reason: Calling AE Title Not Recognized\n"
    )
    assert category == EchoCategory.REJECTED
    assert "Calling AE Title Not Recognized (Rejected Permanent)" in message
    assert "'DICOMTRANSFER'" in message
    assert "register it" in message


def test_a_busy_peer_says_to_try_again() -> None:
    category, message = interpreted(
        "F: Association Rejected:\nF: Result: Rejected Transient, Source: Service Provider (Presentation Related)\n"
        "F: Reason: Temporary Congestion\n"
    )
    assert category == EchoCategory.REJECTED
    assert "try again" in message


def test_an_echo_response_that_is_not_success_fails() -> None:
    category, message = interpreted("I: Received Echo Response (Failure: 0110)\n")
    assert category == EchoCategory.OTHER
    assert "Failure: 0110" in message


@pytest.mark.parametrize(
    ("peer", "rejection", "advice"),
    [
        # pynetdicom's maximum_associations, its one slot held open: busy.
        (
            {"busy": True},
            (RejectionResult.TRANSIENT, "Service Provider (Presentation Related)", "Local Limit Exceeded"),
            "try again in a moment",
        ),
        # pynetdicom's require_calling_aet: it does not know us.
        (
            {"known_calling_ae": "FRIEND"},
            (RejectionResult.PERMANENT, "Service User", "Calling AE Title Not Recognized"),
            "'DICOMTRANSFER': register it",
        ),
    ],
)
def test_why_a_real_peer_rejected_arrives_as_data(
    peer: dict[str, Any], rejection: tuple[RejectionResult, str, str], advice: str
) -> None:
    with rejecting_scp("PEER", **peer) as port:
        result = echo_with(ae_title="PEER", host="127.0.0.1", port=port)
    assert (result.success, result.category) == (False, EchoCategory.REJECTED)
    assert result.rejection is not None
    assert (result.rejection.result, result.rejection.source, result.rejection.reason) == rejection
    assert result.rejection.transient is (rejection[0] is RejectionResult.TRANSIENT)
    assert advice in result.message


def test_an_answered_echo_carries_no_rejection(tmp_path: Path) -> None:
    with peers.storescp(tmp_path / "scp", "STORESCP") as scp:
        result = echo_with(ae_title="STORESCP", host="127.0.0.1", port=scp.port)
    assert (result.category, result.rejection) == (EchoCategory.OK, None)
