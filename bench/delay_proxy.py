"""A TCP proxy on 127.0.0.1 that delays every byte by a fixed time in each direction: a WAN link's
latency without its bandwidth limit, for the WAN benchmark (``bench/wan.py``).

Each direction of each connection has a reader, which stamps what arrives with the moment it may
leave, and a writer, which sends it then. The reader never waits for the writer, so the proxy
holds as much as the sender puts in flight (no bandwidth cap, no window of its own); the end of a
stream is delayed like its data. Both sides get TCP_NODELAY, so no small PDU waits for Nagle.

    with DelayProxy(target_port=11112, delay=0.010) as proxy:   # 10 ms one way, 20 ms round trip
        ... connect to 127.0.0.1:proxy.port ...
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
from types import TracebackType

LOOP = "127.0.0.1"
_EOF = b""


class _Direction:
    """source → sink, ``delay`` seconds late."""

    def __init__(self, source: socket.socket, sink: socket.socket, delay: float) -> None:
        self.source, self.sink, self.delay = source, sink, delay
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.ready = threading.Condition()

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._read, daemon=True), threading.Thread(target=self._write, daemon=True)]
        for thread in threads:
            thread.start()
        return threads

    def _read(self) -> None:
        while True:
            try:
                data = self.source.recv(1 << 18)
            except OSError:
                data = _EOF
            with self.ready:
                self.queue.append((time.monotonic() + self.delay, data))
                self.ready.notify()
            if not data:
                return

    def _write(self) -> None:
        while True:
            with self.ready:
                while not self.queue:
                    self.ready.wait()
                due, data = self.queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    self.sink.shutdown(socket.SHUT_WR)
                return
            try:
                self.sink.sendall(data)
            except OSError:
                with contextlib.suppress(OSError):
                    self.source.shutdown(socket.SHUT_RD)
                return


class DelayProxy:
    def __init__(self, target_port: int, delay: float, target_host: str = LOOP) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((LOOP, 0))
        self.server.listen(128)
        self.port = int(self.server.getsockname()[1])
        self.connections = 0
        self._open: list[socket.socket] = []

    def __enter__(self) -> DelayProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        with contextlib.suppress(OSError):
            self.server.close()
        for connection in self._open:
            with contextlib.suppress(OSError):
                connection.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        self.connections += 1
        self._open += [client, upstream]
        for end in (client, upstream):
            end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threads = _Direction(client, upstream, self.delay).start() + _Direction(upstream, client, self.delay).start()
        for thread in threads:
            thread.join()
        for end in (client, upstream):
            with contextlib.suppress(OSError):
                end.close()
            with contextlib.suppress(ValueError):
                self._open.remove(end)


def _self_test() -> None:
    """An echo server behind a 10 ms proxy answers in about 20 ms."""
    server = socket.socket()
    server.bind((LOOP, 0))
    server.listen()

    def echo() -> None:
        connection, _ = server.accept()
        while data := connection.recv(1024):
            connection.sendall(data)
        connection.close()

    threading.Thread(target=echo, daemon=True).start()
    with DelayProxy(server.getsockname()[1], 0.010) as proxy, socket.create_connection((LOOP, proxy.port)) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(5):
            started = time.perf_counter()
            c.sendall(b"ping")
            assert c.recv(16) == b"ping"
            print(f"round trip {1000 * (time.perf_counter() - started):.1f} ms")


if __name__ == "__main__":
    _self_test()
