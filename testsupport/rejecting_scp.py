"""A pynetdicom SCP that rejects associations on purpose: permanently (a calling AE title it does
not know) or transiently (busy: its one association slot is held open by the test)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from testsupport.peers import LOOPBACK, free_port


@contextlib.contextmanager
def rejecting_scp(
    ae_title: str = "REJECTS", *, busy: bool = False, known_calling_ae: str | None = None
) -> Iterator[int]:
    """Listen on 127.0.0.1 and yield the port.

    ``busy``: ``maximum_associations`` is 1 and a Verification association is kept open, so every
    other request is rejected transient, Service Provider (Presentation Related), Local Limit Exceeded.
    ``known_calling_ae``: only that calling AE title is accepted; others are rejected permanent,
    Service User, Calling AE Title Not Recognized.
    """
    port = free_port()
    ae = AE(ae_title=ae_title)
    ae.add_supported_context(Verification)
    if known_calling_ae is not None:
        ae.require_calling_aet = [known_calling_ae]
    if busy:
        ae.maximum_associations = 1
    server = ae.start_server((LOOPBACK, port), block=False)
    holder = None
    try:
        if busy:
            client = AE(ae_title=known_calling_ae or "HOLDER")
            client.add_requested_context(Verification)
            holder = client.associate(LOOPBACK, port, ae_title=ae_title)
            assert holder.is_established, "the busy peer's one association could not be opened"
        yield port
    finally:
        if holder is not None:
            holder.release()
        server.shutdown()
