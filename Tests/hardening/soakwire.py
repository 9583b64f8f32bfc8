"""ttrpc clients the soak needs beyond agentclient.TtrpcClient (which serialises its calls).

- MuxClient: one connection, many calls in flight, answers matched by stream id: how the Go
  runtime's ttrpc client drives the agent (64 concurrent execs share one connection).
- StdoutReader: ReadStdout on a raw connection of its own that can leave abruptly in the middle
  of a call (close, or shut its sending side and collect what the agent still wrote), to prove
  the agent hands every byte it took from the buffer to someone.

Framing and envelopes come from agentclient (Tests/e2e), the messages from its generated modules.
"""

from __future__ import annotations

import fcntl
import select
import socket
import struct
import threading
import time
from typing import Any, Optional

from agentclient import (RpcFailed, STATUS_NAMES, TTRPC_HEADER, TTRPC_MAX_MESSAGE, TTRPC_REQUEST,
                         TTRPC_RESPONSE, agent_pb2, response_type, ttrpc_request, ttrpc_response)

SERVICE = "grpc.AgentService"
SIOCOUTQ = 0x5411  # TIOCOUTQ: for AF_UNIX, bytes sent that the peer has not read yet


def _status_name(code: int) -> str:
    return STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else f"CODE_{code}"


def unread_by_peer(sock: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQ, struct.pack("i", 0)))[0]


def wait_consumed(sock: socket.socket, deadline: float) -> None:
    """Waits until the agent has read everything sent on `sock` (its requests are being served)."""
    end = time.monotonic() + deadline
    while unread_by_peer(sock) > 0:
        if time.monotonic() >= end:
            raise RuntimeError(f"the agent did not read our requests within {deadline}s")
        time.sleep(0.001)  # polling interval of a deadline-bound wait


class FrameReader:
    """Reads whole ttrpc frames from a socket, each within a deadline."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()

    def frame(self, limit: Optional[float]) -> Optional[tuple[int, int, bytes]]:
        """(stream id, type, body), or None at EOF. `limit` is a monotonic time or None (no limit)."""
        while True:
            if len(self.buffer) >= TTRPC_HEADER.size:
                length, stream, kind, _flags = TTRPC_HEADER.unpack_from(self.buffer)
                if length > TTRPC_MAX_MESSAGE:
                    raise RuntimeError(f"ttrpc frame of {length} bytes from the agent")
                end = TTRPC_HEADER.size + length
                if len(self.buffer) >= end:
                    body = bytes(self.buffer[TTRPC_HEADER.size:end])
                    del self.buffer[:end]
                    return stream, kind, body
            wait = None if limit is None else limit - time.monotonic()
            if wait is not None and wait <= 0:
                raise TimeoutError("no ttrpc frame before the deadline")
            readable, _, _ = select.select([self.sock], [], [], wait)
            if not readable:
                continue
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                if self.buffer:
                    raise RuntimeError(f"connection closed inside a frame ({len(self.buffer)} bytes buffered)")
                return None
            self.buffer += chunk


def send_request(sock: socket.socket, stream: int, method: str, request: Any, timeout: float) -> None:
    body = ttrpc_request(SERVICE, method, request.SerializeToString(), int(timeout * 1e9))
    sock.sendall(TTRPC_HEADER.pack(len(body), stream, TTRPC_REQUEST, 0) + body)


class MuxClient:
    """Many calls in flight on one unix connection; a reader thread hands each answer to its caller."""

    GRACE = 2.0  # waits this much past the call's own deadline, so the agent's answer wins

    def __init__(self, socket_path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.connect(socket_path)
        self._lock = threading.Lock()
        self._pending: dict[int, list] = {}   # stream -> [Event, (code, message, payload) | None]
        self._next = 1
        self._closed: Optional[str] = None
        self._reader = threading.Thread(target=self._read_loop, name="mux-reader", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        frames = FrameReader(self.sock)
        reason = "the agent closed the connection"
        try:
            while True:
                got = frames.frame(None)
                if got is None:
                    break
                stream, kind, body = got
                if kind != TTRPC_RESPONSE:
                    continue
                with self._lock:
                    waiter = self._pending.pop(stream, None)
                if waiter is not None:
                    waiter[1] = ttrpc_response(body)
                    waiter[0].set()
        except (OSError, RuntimeError, ValueError) as error:
            reason = f"connection failed: {error}"
        with self._lock:
            self._closed = reason
            waiters = list(self._pending.values())
            self._pending.clear()
        for waiter in waiters:
            waiter[0].set()

    def call(self, rpc: str, request: Any, timeout: float = 60) -> Any:
        waiter: list = [threading.Event(), None]
        with self._lock:
            if self._closed is not None:
                raise RpcFailed(rpc, "UNAVAILABLE", self._closed)
            stream = self._next
            self._next += 2
            self._pending[stream] = waiter
            try:
                # Under the lock: stream ids must reach the agent in increasing order.
                send_request(self.sock, stream, rpc, request, timeout)
            except OSError as error:
                self._pending.pop(stream, None)
                raise RpcFailed(rpc, "UNAVAILABLE", f"send: {error}") from None
        if not waiter[0].wait(timeout + self.GRACE):
            with self._lock:
                self._pending.pop(stream, None)
            raise RpcFailed(rpc, "DEADLINE_EXCEEDED", f"no answer within {timeout + self.GRACE}s")
        if waiter[1] is None:
            raise RpcFailed(rpc, "UNAVAILABLE", self._closed or "connection closed")
        code, message, payload = waiter[1]
        if code != 0:
            raise RpcFailed(rpc, _status_name(code), message)
        return response_type(rpc).FromString(payload)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._reader.join(timeout=10)


class StdoutReader:
    """ReadStdout of one process on a connection of its own, one call at a time, as a shim reads."""

    def __init__(self, socket_path: str, container_id: str, exec_id: str, chunk: int, timeout: float):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.connect(socket_path)
        self.frames = FrameReader(self.sock)
        self.request = agent_pb2.ReadStreamRequest(container_id=container_id, exec_id=exec_id, len=chunk)
        self.timeout = timeout
        self.stream = 1

    def send(self) -> int:
        stream = self.stream
        self.stream += 2
        send_request(self.sock, stream, "ReadStdout", self.request, self.timeout)
        return stream

    def answer(self, stream: int) -> Optional[bytes]:
        """The data of call `stream`; None when the connection ended without answering it."""
        limit = time.monotonic() + self.timeout + MuxClient.GRACE
        while True:
            got = self.frames.frame(limit)
            if got is None:
                return None
            got_stream, kind, body = got
            if got_stream != stream or kind != TTRPC_RESPONSE:
                continue
            code, message, payload = ttrpc_response(body)
            if code != 0:
                raise RpcFailed("ReadStdout", _status_name(code), message)
            return agent_pb2.ReadStreamResponse.FromString(payload).data

    def read(self) -> bytes:
        data = self.answer(self.send())
        if data is None:
            raise RpcFailed("ReadStdout", "UNAVAILABLE", "the agent closed the connection")
        return data

    def leave_mid_call(self, wait_until_read: bool) -> Optional[bytes]:
        """Sends one more ReadStdout and shuts our sending side, as a client that dies does (the
        agent sees the connection end); then collects the answer if the agent still wrote one.
        With `wait_until_read`, leaves only once the agent has read the request."""
        stream = self.send()
        if wait_until_read:
            wait_consumed(self.sock, self.timeout)
        self.sock.shutdown(socket.SHUT_WR)
        try:
            return self.answer(stream)
        except RpcFailed as error:
            # A cancelled call may be answered with a status: no data was handed out with it.
            if error.code in ("CANCELLED", "DEADLINE_EXCEEDED", "UNAVAILABLE"):
                return None
            raise

    def close(self) -> None:
        self.sock.close()

