"""A scripted STOW-RS server for the answers Orthanc does not give: per-instance refusals, 409,
429 with Retry-After, 5xx. It reads each request whole (a real multipart body), finds the SOP
Instance UID of each part with pydicom, and answers what ``answer`` says for that request.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pydicom

from testsupport.peers import LOOPBACK

Answer = Callable[[list[str]], tuple[int, dict[str, str], Any]]
"""Given the SOP Instance UIDs of a request's parts: (status, headers, JSON body or None)."""


def stored(uids: list[str], *, failed: dict[str, int] | None = None, warned: dict[str, int] | None = None) -> Any:
    """A STOW-RS answer body: ``uids`` stored (with WarningReason ``warned``), ``failed`` refused."""
    failed, warned = failed or {}, warned or {}
    referenced = []
    for uid in uids:
        if uid in failed:
            continue
        item: dict[str, Any] = {"00081155": {"vr": "UI", "Value": [uid]}}
        if uid in warned:
            item["00081196"] = {"vr": "US", "Value": [warned[uid]]}
        referenced.append(item)
    body: dict[str, Any] = {"00081199": {"vr": "SQ", "Value": referenced}}
    if failed:
        body["00081198"] = {
            "vr": "SQ",
            "Value": [
                {"00081155": {"vr": "UI", "Value": [uid]}, "00081197": {"vr": "US", "Value": [code]}}
                for uid, code in failed.items()
            ],
        }
    return body


@dataclass
class StowServer:
    port: int
    requests: list[list[str]] = field(default_factory=list)  # the SOP Instance UIDs of each request

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/dicom-web"


def _uids(content_type: str, body: bytes) -> list[str]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    uids = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        dataset = pydicom.dcmread(io.BytesIO(part.get_payload(decode=True)), stop_before_pixels=True)
        uids.append(str(dataset.SOPInstanceUID))
    return uids


@contextlib.contextmanager
def stow_server(answer: Answer) -> Iterator[StowServer]:
    state: StowServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            uids = _uids(self.headers["Content-Type"], body)
            state.requests.append(uids)
            status, headers, content = answer(uids)
            data = json.dumps(content).encode() if content is not None else b""
            self.send_response(status)
            for name, value in {"Content-Type": "application/dicom+json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    state = StowServer(int(server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
