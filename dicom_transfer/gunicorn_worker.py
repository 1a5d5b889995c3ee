"""gunicorn's gthread worker, but a request is read before a thread takes it.

gunicorn's gthread worker hands a connection to a thread as soon as it is readable, and the
thread then blocks reading the headers and the body: ten clients trickling a body to the login
took all the threads, and ``/api/health/`` waited 25 s. This worker reads, in its event loop
(no thread), each request's headers and, up to ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (JSON_MAX_BYTES),
its body, and only then hands the complete request to a thread. A request that is not complete
within ``REQUEST_READ_TIMEOUT`` seconds is dropped.

A larger body (an import) is handed over after its headers and streams to disk as before (the
API refuses it before reading when the client is not signed in, or when the size is over a
limit); so is a chunked body or one sent after ``Expect: 100-continue``. The connection of such a
request is closed after its answer, so an unread rest of the body never holds a thread either.

With TLS in gunicorn itself (not our setup: the reverse proxy terminates TLS) it behaves as
gthread does.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

REQUEST_READ_TIMEOUT = 30.0  # seconds for the headers and a small body to arrive
MAX_HEADER_BYTES = 64 * 1024  # beyond it gunicorn's own parser refuses the request
_CHUNK = 64 * 1024


class PrefixedSocket:
    """A socket whose ``recv`` first returns the bytes the event loop already read."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.prefix = b""

    def recv(self, size: int, *flags: int) -> bytes:
        if self.prefix:
            data, self.prefix = self.prefix[:size], self.prefix[size:]
            return data
        return self._sock.recv(size, *flags)

    def raw_recv(self, size: int) -> bytes:
        return self._sock.recv(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def request_is_ready(buffer: bytes | bytearray, body_limit: int) -> tuple[bool, bool]:
    """Whether a thread can take the request in ``buffer`` now, and whether its body streams
    (is not all in ``buffer``)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return len(buffer) > MAX_HEADER_BYTES, False
    headers: dict[str, str] = {}
    for line in bytes(buffer[:end]).decode("latin-1").split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    if "transfer-encoding" in headers or "expect" in headers:
        return True, True
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        return True, False  # gunicorn answers 400
    if length > body_limit:
        return True, True
    return len(buffer) - (end + 4) >= length, False


class BufferingThreadWorker(ThreadWorker):
    def init_process(self) -> None:
        self._reading: dict[TConn, float] = {}
        self._body_limit: int | None = None
        super().init_process()

    def body_limit(self) -> int:
        if self._body_limit is None:
            from django.conf import settings

            self._body_limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
        return self._body_limit

    def accept(self, server: Any, listener: Any) -> None:
        if self.cfg.is_ssl:
            super().accept(server, listener)
            return
        try:
            sock, client = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = TConn(self.cfg, PrefixedSocket(sock), client, server)
        conn.pending = bytearray()  # type: ignore[attr-defined]
        conn.streams = False  # type: ignore[attr-defined]
        self.nr_conns += 1
        with self._lock:
            self._reading[conn] = time.monotonic() + REQUEST_READ_TIMEOUT
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        if not isinstance(conn.sock, PrefixedSocket):
            super().on_client_socket_readable(conn, client)
            return
        with self._lock:
            if conn not in self._reading:
                # A kept-alive connection: its next request begins.
                try:
                    self._keep.remove(conn)
                except ValueError:
                    return  # closed as idle meanwhile
                self._reading[conn] = time.monotonic() + REQUEST_READ_TIMEOUT
        try:
            data = conn.sock.raw_recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(conn)
            return
        pending: bytearray = conn.pending  # type: ignore[attr-defined]
        pending += data
        ready, streams = request_is_ready(pending, self.body_limit())
        if not ready:
            return
        with self._lock:
            self.poller.unregister(conn.sock)
            self._reading.pop(conn, None)
        conn.sock.prefix += bytes(pending)
        conn.pending = bytearray()  # type: ignore[attr-defined]
        conn.streams = streams  # type: ignore[attr-defined]
        self.enqueue_req(conn)

    def handle(self, conn: TConn) -> tuple[bool, TConn]:
        keepalive, conn = super().handle(conn)
        if getattr(conn, "streams", False):
            return False, conn  # its body may not have been read to the end: close
        return keepalive, conn

    def murder_keepalived(self) -> None:
        super().murder_keepalived()
        now = time.monotonic()
        with self._lock:
            late = [conn for conn, deadline in self._reading.items() if deadline < now]
        for conn in late:
            self._drop(conn)

    def _drop(self, conn: TConn) -> None:
        with self._lock:
            if self._reading.pop(conn, None) is None and conn not in self._keep:
                return
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()
