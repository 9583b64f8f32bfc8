"""A ttrpc client connection with many calls in flight, for the fuzzer.

agentclient.TtrpcClient serialises calls, as the VM tests want; a fuzzer wants the server to
juggle several at once, answered out of order, as the Go runtime's client makes it. The
framing and the Request/Response envelopes are agentclient's.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Optional

import agentclient
from agentclient import TTRPC_HEADER, TTRPC_REQUEST, TTRPC_RESPONSE, ttrpc_request, ttrpc_response


class ConnectionLost(Exception):
    """The agent closed the connection or the socket failed."""


class PipelinedTtrpc:
    """One unix-socket connection; `send` returns the stream id, `poll` the answers that came."""

    def __init__(self, path: str, connect_timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(connect_timeout)
        self.sock.connect(path)
        self.sock.settimeout(None)
        self.buffer = bytearray()
        self.next_stream = 1

    def send(self, service: str, method: str, payload: bytes, timeout_nano: int,
             metadata: Optional[dict] = None) -> int:
        stream = self.next_stream
        self.next_stream += 2
        # timeout_nano is int64 on the wire; agentclient's varint writes negatives as ten bytes.
        body = ttrpc_request(service, method, payload, 0, metadata)
        if timeout_nano:
            body += agentclient._varint(4 << 3) + agentclient._varint(timeout_nano)
        self.send_raw(TTRPC_HEADER.pack(len(body), stream, TTRPC_REQUEST, 0) + body)
        return stream

    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise ConnectionLost(f"send: {error}") from None

    def poll(self, timeout: float) -> list[tuple[int, int, str]]:
        """(stream id, status code, message) of every answer that arrives within `timeout`."""
        answers = []
        end = time.monotonic() + timeout
        while True:
            while len(self.buffer) >= TTRPC_HEADER.size:
                length, stream, kind, _flags = TTRPC_HEADER.unpack_from(self.buffer)
                if length > agentclient.TTRPC_MAX_MESSAGE:
                    raise ConnectionLost(f"the agent sent a frame of {length} bytes")
                stop = TTRPC_HEADER.size + length
                if len(self.buffer) < stop:
                    break
                body = bytes(self.buffer[TTRPC_HEADER.size:stop])
                del self.buffer[:stop]
                if kind == TTRPC_RESPONSE:
                    try:
                        code, message, _ = ttrpc_response(body)
                    except ValueError as error:
                        raise ConnectionLost(f"undecodable response on stream {stream}: {error}") from None
                    answers.append((stream, code, message))
            left = end - time.monotonic()
            if answers or left <= 0:
                return answers
            readable, _, _ = select.select([self.sock], [], [], left)
            if not readable:
                return answers
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError as error:
                raise ConnectionLost(f"recv: {error}") from None
            if not chunk:
                raise ConnectionLost("the agent closed the connection")
            self.buffer += chunk

    def call(self, service: str, method: str, payload: bytes, timeout: float) -> tuple[int, str]:
        """One call answered before anything else is sent; (code, message)."""
        stream = self.send(service, method, payload, int(timeout * 1e9))
        end = time.monotonic() + timeout + 10
        while time.monotonic() < end:
            for got, code, message in self.poll(end - time.monotonic()):
                if got == stream:
                    return code, message
        raise TimeoutError(f"{service}/{method} unanswered {timeout + 10:.0f}s after it was sent")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
