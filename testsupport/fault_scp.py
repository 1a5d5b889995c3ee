"""A pynetdicom storage SCP that misbehaves on purpose, for transfer tests.

It stores what it accepts in memory (SOP Instance UID → transfer syntax) and can:
refuse chosen instances, abort the association after N instances (every association from then
on, or the first ``abort_limit`` ones), go silent, answer slowly,
or require a called AE title (rejecting others); with ``ssl_context``, it listens with TLS.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydicom.uid import UID
from pydicom.uid import DeflatedExplicitVRLittleEndian as DEFLATED
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt

from testsupport.peers import LOOPBACK, free_port


@dataclass
class FaultSCP:
    port: int
    ae_title: str
    refuse: set[str] = field(default_factory=set)
    refuse_status: int = 0xA700
    abort_after: int | None = None
    abort_limit: int | None = None  # abort this many associations at most (None: every one)
    aborts: int = 0
    delay: float = 0.0
    silent: bool = False
    received: dict[str, str] = field(default_factory=dict)
    arrivals: list[tuple[str, str]] = field(default_factory=list)
    associations: int = 0
    max_concurrent: int = 0
    _open: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)

    def handle_store(self, event: evt.Event) -> int:
        if self.silent:
            self._release.wait(120)
            return 0xA700
        if self.delay:
            time.sleep(self.delay)
        sop = str(event.request.AffectedSOPInstanceUID)
        with self._lock:
            if (
                self.abort_after is not None
                and len(self.received) >= self.abort_after
                and (self.abort_limit is None or self.aborts < self.abort_limit)
            ):
                self.aborts += 1
                event.assoc.abort()
                return 0xA700
            if sop in self.refuse:
                return self.refuse_status
            self.received[sop] = str(event.context.transfer_syntax)
            self.arrivals.append((sop, str(event.context.transfer_syntax)))
        return 0x0000

    def handle_assoc(self, event: evt.Event) -> None:
        with self._lock:
            self.associations += 1
            self._open.add(id(event.assoc))
            self.max_concurrent = max(self.max_concurrent, len(self._open))

    def handle_end(self, event: evt.Event) -> None:
        with self._lock:
            self._open.discard(id(event.assoc))

    @property
    def open_associations(self) -> int:
        with self._lock:
            return len(self._open)


@contextlib.contextmanager
def fault_scp(
    ae_title: str = "FAULTY",
    *,
    require_called_aet: bool = True,
    port: int | None = None,
    ssl_context: ssl.SSLContext | None = None,
    **behaviour: object,
) -> Iterator[FaultSCP]:
    port = port or free_port()
    scp = FaultSCP(port=port, ae_title=ae_title, **behaviour)  # type: ignore[arg-type]
    ae = AE(ae_title=ae_title)
    ae.require_called_aet = require_called_aet
    ae.maximum_pdu_size = 0
    ae.acse_timeout = 30
    ae.dimse_timeout = 120
    ae.network_timeout = 120
    # pynetdicom takes the first of its own syntaxes that the requestor proposed: listing the
    # compressed ones first makes it accept what the sender proposes for a compressed file.
    syntaxes = sorted(ALL_TRANSFER_SYNTAXES, key=lambda uid: not (UID(uid).is_compressed or uid == DEFLATED))
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, syntaxes)
    server = ae.start_server(
        (LOOPBACK, port),
        block=False,
        ssl_context=ssl_context,
        evt_handlers=[
            (evt.EVT_C_STORE, scp.handle_store),
            (evt.EVT_ACCEPTED, scp.handle_assoc),
            (evt.EVT_CONN_CLOSE, scp.handle_end),
        ],
    )
    try:
        yield scp
    finally:
        scp._release.set()
        server.shutdown()
