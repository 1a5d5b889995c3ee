"""A peer that accepts TCP connections and never answers: a PACS hung after the handshake."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from testsupport.peers import LOOPBACK


class HungPeer:
    """Listens on 127.0.0.1, accepts every connection, holds it open, and never sends a byte.
    ``connected`` is released once per accepted connection."""

    def __init__(self) -> None:
        self.listener = socket.create_server((LOOPBACK, 0), backlog=64)
        self.port = int(self.listener.getsockname()[1])
        self.connected = threading.Semaphore(0)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)
            self.connected.release()

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            with contextlib.suppress(OSError):
                connection.close()


@contextlib.contextmanager
def hung_peer() -> Iterator[HungPeer]:
    peer = HungPeer()
    try:
        yield peer
    finally:
        peer.close()
