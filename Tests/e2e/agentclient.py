"""Three clients for the agent behind a guest's channel (virtio-serial or vsock), with one interface:

- TtrpcClient: ttrpc (containerd/ttrpc framing) over a plain socket, as every Kata runtime
  since 2.0 talks to the agent; the default for the VM tests and the demo. Framing and the
  ttrpc Request/Response envelope are written here (a few lines of struct and varints); the
  RPC messages are the same generated Python messages the other clients use.

- PyClient: grpcio (Debian's python3-grpcio, gRPC's C core: a second gRPC implementation proving
  wire interop) with messages generated from protos/ at test time into the gitignored cache.
  Messages come from protoc's --python_out (Debian's protoc 3.21 matches python3-protobuf 4.21;
  python3-grpc-tools 1.14 bundles protoc 3.5, which rejects the proto3 `optional` fields that
  agent.proto has like upstream's). Stubs are built from the generated service descriptors,
  which is all grpc_tools' *_pb2_grpc.py files contain.
- CtlClient: our kata-agent-ctl, given the same requests as JSON.

`call(rpc, request)` takes and returns protobuf messages of the generated Python module, so
one scenario drives both.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pathlib
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Optional

import cachelock

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROTOS = REPO / "protos"
PROTO_FILES = ["types.proto", "csi.proto", "oci.proto", "agent.proto", "health.proto"]
CACHE = pathlib.Path(os.environ.get("KATA_E2E_CACHE", REPO / ".cache" / "e2e"))

# rpc name -> (service, response message name in its module)
HEALTH_RPCS = {"Check": "HealthCheckResponse", "Version": "VersionCheckResponse"}


def messages():
    """(agent_pb2, health_pb2, oci_pb2), generated once per protos/ content."""
    digest = hashlib.sha256()
    for name in PROTO_FILES:
        digest.update((PROTOS / name).read_bytes())
    out = CACHE / f"py-{digest.hexdigest()[:12]}"
    with cachelock.held(CACHE):
        if not (out / ".complete").exists():
            out.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                [os.environ.get("PROTOC", "protoc"), f"-I{PROTOS}", f"--python_out={out}", *PROTO_FILES],
                capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"protoc --python_out failed for {PROTOS}: {proc.stderr}")
            (out / ".complete").touch()
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return tuple(importlib.import_module(n) for n in ("agent_pb2", "health_pb2", "oci_pb2"))


agent_pb2, health_pb2, oci_pb2 = messages()


class Stub:
    """Callables for every method of a service descriptor, like a generated *Stub class."""

    def __init__(self, channel, service) -> None:
        for method in service.methods:
            setattr(self, method.name, channel.unary_unary(
                f"/{service.full_name}/{method.name}",
                request_serializer=method.input_type._concrete_class.SerializeToString,
                response_deserializer=method.output_type._concrete_class.FromString))


class RpcFailed(Exception):
    """An RPC answered with an error status."""

    def __init__(self, rpc: str, code: str, details: str):
        super().__init__(f"{rpc}: {code}: {details}")
        self.rpc, self.code, self.details = rpc, code, details


def _service_of(rpc: str) -> str:
    return "Health" if rpc in HEALTH_RPCS else "AgentService"


def response_type(rpc: str):
    if rpc in HEALTH_RPCS:
        return getattr(health_pb2, HEALTH_RPCS[rpc])
    method = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].methods_by_name[rpc]
    return method.output_type._concrete_class


class PyClient:
    """grpcio over the unix socket QEMU exposes for the virtio-serial port."""

    name = "grpcio"

    def __init__(self, socket_path: pathlib.Path):
        import grpc
        self._grpc = grpc
        self.channel = grpc.insecure_channel(f"unix:{socket_path}")
        self.agent = Stub(self.channel, agent_pb2.DESCRIPTOR.services_by_name["AgentService"])
        self.health = Stub(self.channel, health_pb2.DESCRIPTOR.services_by_name["Health"])

    def call(self, rpc: str, request: Any, timeout: float = 60) -> Any:
        stub = self.health if rpc in HEALTH_RPCS else self.agent
        try:
            return getattr(stub, rpc)(request, timeout=timeout)
        except self._grpc.RpcError as error:
            raise RpcFailed(rpc, error.code().name, error.details() or "") from None

    def close(self) -> None:
        self.channel.close()


class CtlClient:
    """kata-agent-ctl: one process per RPC, request and response as protobuf JSON; over ttrpc
    (its default, as Kata runtimes) unless `transport="grpc"`."""

    name = "kata-agent-ctl"

    def __init__(self, socket_path: pathlib.Path, binary: Optional[str] = None, transport: str = "ttrpc"):
        self.address = f"unix://{socket_path}"
        self.binary = binary or ctl_binary()
        self.transport = transport

    def call(self, rpc: str, request: Any, timeout: float = 60) -> Any:
        from google.protobuf import json_format
        body = json_format.MessageToJson(request, preserving_proto_field_name=True, indent=None)
        argv = [self.binary, "--server-addr", self.address, "--transport", self.transport,
                "--timeout", str(max(1, int(timeout))), "call", rpc, "--json", body]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            raise RpcFailed(rpc, "DEADLINE_EXCEEDED", f"kata-agent-ctl ran over {timeout}s") from None
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip()
            # kata-agent-ctl names the status: "kata-agent-ctl: RPC failed: CODE: details".
            status = re.search(r" failed: ([A-Z_]+): ", message)
            raise RpcFailed(rpc, status.group(1) if status else f"exit {proc.returncode}", message)
        reply = response_type(rpc)()
        text = proc.stdout.strip()
        if text:
            json_format.Parse(text, reply, ignore_unknown_fields=False)
        return reply

    def close(self) -> None:
        pass


STATUS_NAMES = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
]

TTRPC_HEADER = struct.Struct(">IIBB")     # length, stream id, type, flags
TTRPC_REQUEST, TTRPC_RESPONSE = 1, 2
TTRPC_MAX_MESSAGE = 4 << 20               # containerd/ttrpc's messageLengthMax


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1                # negative int64 as protobuf does: ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message; value is int or bytes."""
    pos = 0

    def varint():
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise ValueError("truncated or overlong varint")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 2:
            size = varint()
            if pos + size > len(data):
                raise ValueError("truncated length-delimited field")
            yield number, wire, data[pos:pos + size]
            pos += size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, wire, data[pos:pos + size]
            pos += size
        else:
            raise ValueError(f"unsupported wire type {wire}")


def ttrpc_request(service: str, method: str, payload: bytes, timeout_nano: int = 0,
                  metadata: Optional[dict] = None) -> bytes:
    """containerd/ttrpc's Request{service=1, method=2, payload=3, timeout_nano=4, metadata=5}."""
    out = _field_bytes(1, service.encode()) + _field_bytes(2, method.encode()) + _field_bytes(3, payload)
    if timeout_nano:
        out += _varint(4 << 3) + _varint(timeout_nano)
    for key, value in (metadata or {}).items():
        out += _field_bytes(5, _field_bytes(1, key.encode()) + _field_bytes(2, value.encode()))
    return out


def ttrpc_response(data: bytes) -> tuple[int, str, bytes]:
    """(status code, status message, payload) of a ttrpc Response{status=1, payload=2}."""
    code, message, payload = 0, "", b""
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            for n, w, v in _fields(value):
                if n == 1 and w == 0:
                    code = v if v < 1 << 31 else v - (1 << 64)
                elif n == 2 and w == 2:
                    message = v.decode("utf-8", "replace")
        elif number == 2 and wire == 2:
            payload = value
    return code, message, payload


def _method_path(rpc: str) -> tuple[str, str]:
    """("grpc.Health", "Check") for a bare name as PyClient takes, or a full "service/Method"."""
    if "/" in rpc:
        service, _, method = rpc.lstrip("/").rpartition("/")
        return service, method
    return f"grpc.{_service_of(rpc)}", rpc


class TtrpcClient:
    """ttrpc over the unix socket that leads to the agent (QEMU's chardev or the vsock relay).

    One connection, kept across calls (QEMU's chardev serves one host connection at a time);
    calls are serialised. Each call carries its deadline as timeout_nano, as the Go runtime's
    client does, and waits a little longer itself so that the agent's DEADLINE_EXCEEDED is what
    the caller sees. An answer that comes after its caller gave up is recognised by its stream
    id and dropped. A closed or failed connection is dialled again by the next call.
    """

    name = "ttrpc"
    # How much longer than timeout_nano the client waits for the agent's own answer.
    GRACE = 2.0

    def __init__(self, socket_path: pathlib.Path, metadata: Optional[dict] = None):
        self.socket_path = pathlib.Path(socket_path)
        self.metadata = metadata or {}
        self._sock: Optional[socket.socket] = None
        self._buffer = bytearray()
        self._next_stream = 1
        self._lock = threading.Lock()

    def connect(self) -> None:
        """Dial now (calls dial on demand); OSError when nothing listens."""
        with self._lock:
            self._dial()

    def _dial(self) -> None:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                sock.connect(str(self.socket_path))
            except OSError:
                sock.close()
                raise
            self._sock, self._buffer, self._next_stream = sock, bytearray(), 1

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def call(self, rpc: str, request: Any, timeout: float = 60) -> Any:
        service, method = _method_path(rpc)
        payload = request.SerializeToString()
        timeout_nano = int(timeout * 1e9) if timeout else 0
        with self._lock:
            try:
                self._dial()
                stream = self._next_stream
                self._next_stream += 2          # client streams are odd
                body = ttrpc_request(service, method, payload, timeout_nano, self.metadata)
                self._sock.sendall(TTRPC_HEADER.pack(len(body), stream, TTRPC_REQUEST, 0) + body)
                limit = time.monotonic() + (timeout + self.GRACE if timeout else 365 * 86400)
                code, message, reply = self._await(stream, limit, rpc)
            except OSError as error:
                self._drop()
                raise RpcFailed(rpc, "UNAVAILABLE", f"ttrpc connection to {self.socket_path}: {error}") from None
        if code != 0:
            name = STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else f"CODE_{code}"
            raise RpcFailed(rpc, name, message)
        return response_type(method).FromString(reply)

    def _await(self, stream: int, limit: float, rpc: str) -> tuple[int, str, bytes]:
        while True:
            frame = self._frame(limit, rpc)
            header, body = frame
            length, got, kind, _flags = header
            if got == stream and kind == TTRPC_RESPONSE:
                return ttrpc_response(body)
            # An answer to a call whose caller gave up earlier, or a frame type we do not use.

    def _frame(self, limit: float, rpc: str):
        while True:
            if len(self._buffer) >= TTRPC_HEADER.size:
                header = TTRPC_HEADER.unpack_from(self._buffer)
                if header[0] > TTRPC_MAX_MESSAGE:
                    self._drop()
                    raise RpcFailed(rpc, "RESOURCE_EXHAUSTED", f"ttrpc frame of {header[0]} bytes from the agent")
                end = TTRPC_HEADER.size + header[0]
                if len(self._buffer) >= end:
                    body = bytes(self._buffer[TTRPC_HEADER.size:end])
                    del self._buffer[:end]
                    return header, body
            left = limit - time.monotonic()
            if left <= 0:
                # Keep the connection: the answer may still come and is then skipped.
                raise RpcFailed(rpc, "DEADLINE_EXCEEDED", "no ttrpc answer before the call's deadline")
            readable, _, _ = select.select([self._sock], [], [], min(left, 3600))
            if not readable:
                continue
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                self._drop()
                raise RpcFailed(rpc, "UNAVAILABLE", f"the agent closed the ttrpc connection ({self.socket_path})")
            self._buffer += chunk

    def close(self) -> None:
        with self._lock:
            self._drop()


def agent_binary() -> str:
    return os.environ.get("KATA_AGENT_BIN", str(REPO / ".build" / "debug" / "kata-agent"))


def ctl_binary() -> str:
    return os.environ.get("KATA_AGENT_CTL_BIN", str(REPO / ".build" / "debug" / "kata-agent-ctl"))


def wait_ready(guest, client, timeout: float) -> float:
    """Wait for Health.Check to answer SERVING; returns the host time it first did."""
    def probe():
        reply = client.call("Check", health_pb2.CheckRequest(), timeout=5)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"health status {reply.status}")
        return time.monotonic()
    return guest.wait_until("agent Health.Check SERVING", probe, timeout, interval=0.2)
