"""A fast, fixed-answer Flickr stand-in for the benchmark (not the sandbox).

Plain asyncio protocol, HTTP/1.1 keep-alive, no parsing beyond what framing needs:

* ``GET|POST /services/rest/...``: the ``flickr.test.echo`` answer below (JSON).
* ``POST /services/upload/`` and ``/services/replace/``: the body is read and thrown
  away as it arrives (Content-Length or chunked), then ``<photoid>``/``<photoid>`` XML.
* anything else: 404.

It verifies no OAuth signature (FlickrHub signs; the peers send a header of the same
size), so the stand-in costs as little CPU as possible and measures the clients.

Run: ``python standin.py --port 0 --ready-file PATH`` (writes the chosen port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from pathlib import Path

ECHO = (
    b'{"method":{"_content":"flickr.test.echo"},"format":{"_content":"json"},'
    b'"nojsoncallback":{"_content":"1"},"name":{"_content":"bench"},"stat":"ok"}'
)
UPLOAD = (
    b'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">\n'
    b"<photoid>52811234567</photoid>\n</rsp>\n"
)
REPLACE = (
    b'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">\n'
    b'<photoid secret="abcdef" originalsecret="123456">52811234567</photoid>\n</rsp>\n'
)


def _response(status: bytes, content_type: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: keep-alive\r\n\r\n"
        + body
    )


REST_RESPONSE = _response(b"200 OK", b"application/json; charset=utf-8", ECHO)
UPLOAD_RESPONSE = _response(b"200 OK", b"text/xml; charset=utf-8", UPLOAD)
REPLACE_RESPONSE = _response(b"200 OK", b"text/xml; charset=utf-8", REPLACE)
NOT_FOUND = _response(b"404 Not Found", b"text/plain", b"not found")


class Stats:
    requests = 0
    body_bytes = 0


class HttpProtocol(asyncio.Protocol):
    """One connection: head, then (maybe) a body, then the fixed answer; repeat."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.answer = b""
        self.remaining = 0  # body bytes still to skip (Content-Length framing)
        self.chunked = False
        self.chunk_left = -1  # -1: reading a chunk-size line; >0: chunk bytes; -2: trailer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        """Advance the state machine; True if it can go on with what is buffered."""
        if self.remaining:
            take = min(self.remaining, len(self.buf))
            Stats.body_bytes += take
            del self.buf[:take]
            self.remaining -= take
            if self.remaining:
                return False
            self._answer()
            return bool(self.buf)
        if self.chunked:
            return self._chunk_step()
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 4]
        line, _, rest = head.partition("\r\n")
        parts = line.split(" ")
        path = parts[1] if len(parts) > 1 else "/"
        length = 0
        chunked = False
        for header in rest.split("\r\n"):
            name, _, value = header.partition(":")
            lname = name.strip().lower()
            if lname == "content-length":
                length = int(value.strip() or 0)
            elif lname == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if path.startswith("/services/rest"):
            self.answer = REST_RESPONSE
        elif path.startswith("/services/upload"):
            self.answer = UPLOAD_RESPONSE
        elif path.startswith("/services/replace"):
            self.answer = REPLACE_RESPONSE
        else:
            self.answer = NOT_FOUND
        if chunked:
            self.chunked = True
            self.chunk_left = -1
            return True
        if length:
            self.remaining = length
            return True
        self._answer()
        return bool(self.buf)

    def _chunk_step(self) -> bool:
        if self.chunk_left > 0:
            take = min(self.chunk_left, len(self.buf))
            Stats.body_bytes += take
            del self.buf[:take]
            self.chunk_left -= take
            if self.chunk_left:
                return False
            self.chunk_left = -3  # expect CRLF after chunk data
            return True
        if self.chunk_left == -3:
            if len(self.buf) < 2:
                return False
            del self.buf[:2]
            self.chunk_left = -1
            return True
        end = self.buf.find(b"\r\n")
        if end < 0:
            return False
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        if self.chunk_left == -2:  # trailer section: ends at an empty line
            if not line:
                self.chunked = False
                self._answer()
                return bool(self.buf)
            return True
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            self.chunk_left = -2
            return True
        self.chunk_left = size
        return True

    def _answer(self) -> None:
        Stats.requests += 1
        if self.transport is not None:
            self.transport.write(self.answer)


async def serve(host: str, port: int, ready_file: Path | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, host, port, backlog=2048, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(str(bound))
        os.replace(tmp, ready_file)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, default=None)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.ready_file))


if __name__ == "__main__":
    main()
