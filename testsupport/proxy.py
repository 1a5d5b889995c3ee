"""TCP forwarders for tests.

``SwitchableProxy``: in front of the test's web server, switched off and on, on the same port:
the browser then meets a real refused connection, as when the server restarts. ``SlowLink``: a
slow link in front of a real DICOM peer, so that a send lasts long enough to be interrupted.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

from testsupport.peers import LOOPBACK


class SwitchableProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((LOOPBACK, self.port))
        server.listen(64)
        self.port = int(server.getsockname()[1])
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        """Close the listener and every open connection: new connections are refused."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((LOOPBACK, self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def switchable_proxy(target_port: int) -> Iterator[SwitchableProxy]:
    proxy = SwitchableProxy(target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


class SlowLink:
    """A TCP forwarder to ``target_port`` that carries what the client sends at most
    ``bytes_per_second`` (answers come back at full speed): a slow WAN link in front of a real
    peer, so that a send lasts long enough to be interrupted."""

    def __init__(self, target_port: int, bytes_per_second: int) -> None:
        self.target_port = target_port
        self.bytes_per_second = bytes_per_second
        self._server = socket.create_server((LOOPBACK, 0))
        self.port = int(self._server.getsockname()[1])
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((LOOPBACK, self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, self.bytes_per_second), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, rate: int | None) -> None:
        chunk = 65536 if rate is None else max(1, rate // 20)  # 20 slices a second
        try:
            while data := source.recv(chunk):
                sink.sendall(data)
                if rate is not None:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def slow_link(target_port: int, *, bytes_per_second: int) -> Iterator[SlowLink]:
    link = SlowLink(target_port, bytes_per_second)
    try:
        yield link
    finally:
        link.close()
