"""Two clients for the agent behind a guest's virtio-serial port, with one interface:

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
import subprocess
import sys
import time
from typing import Any, Optional

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
    """kata-agent-ctl: one process per RPC, request and response as protobuf JSON."""

    name = "kata-agent-ctl"

    def __init__(self, socket_path: pathlib.Path, binary: Optional[str] = None):
        self.address = f"unix://{socket_path}"
        self.binary = binary or ctl_binary()

    def call(self, rpc: str, request: Any, timeout: float = 60) -> Any:
        from google.protobuf import json_format
        body = json_format.MessageToJson(request, preserving_proto_field_name=True, indent=None)
        argv = [self.binary, "--server-addr", self.address, "--timeout", str(max(1, int(timeout))),
                "call", rpc, "--json", body]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            raise RpcFailed(rpc, "DEADLINE_EXCEEDED", f"kata-agent-ctl ran over {timeout}s") from None
        if proc.returncode != 0:
            raise RpcFailed(rpc, f"exit {proc.returncode}", (proc.stderr or proc.stdout).strip())
        reply = response_type(rpc)()
        text = proc.stdout.strip()
        if text:
            json_format.Parse(text, reply, ignore_unknown_fields=False)
        return reply

    def close(self) -> None:
        pass


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
