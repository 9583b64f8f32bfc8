"""Host reconnects over virtio-serial: every new host connection gets a session that answers,
with either protocol, however quickly connections come and go.

One minimal-initrd guest for the module. Once the agent is ready, grpcio reconnects right after
closing, 20 times, some rounds right after a connection abandoned after its preface; then the
same 20 rounds with ttrpc (agentclient.TtrpcClient, one fresh connection per round, some right
after a connection that sent a request and left without its answer); then kata-agent-ctl
(ttrpc) connects once, then grpcio again. Over virtio-serial the guest sees no connection boundary of
its own (QEMU's close and the next connect may land between two polls), so these are the cases
where a reconnecting host's preface used to be lost or fed to the old session.
"""

from __future__ import annotations

import socket
import time

import pytest

import agentclient as ac
import guests
import transport
from agentclient import health_pb2
from conftest import require_root
from vm import Guest

ROUNDS = 20
# Each new connection must answer within this (TCG guests answer in well under a second).
CYCLE_DEADLINE = 60.0
READY_DEADLINE = 180.0


@pytest.fixture(scope="module")
def guest(kernel, tmp_path_factory):
    require_root("QEMU guests and initrd device nodes")
    if transport.default_kind() != "serial":
        pytest.skip("the host reaches the agent over vsock here, not virtio-serial")
    initrd = guests.build(guests.GuestRecipe("minimal"), kernel)
    workdir = tmp_path_factory.mktemp("serial-reconnect")
    booted = Guest(guests.initrd_spec(kernel, initrd, "serial-reconnect"), workdir).start()
    try:
        yield booted
    finally:
        booted.kill()


def _check_once(socket_path, timeout: float, wait_for_ready: bool = False) -> int:
    """One fresh grpcio channel (one host connection), one Health.Check, closed."""
    import grpc
    # A local subchannel pool: grpcio otherwise shares one connection among channels to the
    # same target (and may keep it open after close), so a "fresh" channel would not be a new
    # host connection.
    channel = grpc.insecure_channel(f"unix:{socket_path}", options=[("grpc.use_local_subchannel_pool", 1)])
    try:
        health = ac.Stub(channel, health_pb2.DESCRIPTOR.services_by_name["Health"])
        reply = health.Check(health_pb2.CheckRequest(), timeout=timeout, wait_for_ready=wait_for_ready)
        return reply.status
    finally:
        channel.close()


def _abandoned_connection(socket_path) -> None:
    """A host connection that sends its preface and settings and leaves without waiting. (Not
    grpcio with a tiny deadline: grpcio 1.51 keeps such a connection open after the channel
    is closed, and QEMU's chardev serves one client at a time, so every later connection
    would wait behind it.)"""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(socket_path))
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))


def test_01_ready(guest):
    channel = guests.ready_channel(guest, READY_DEADLINE)
    try:
        guests.wait_ready(guest, channel, READY_DEADLINE)
    finally:
        channel.close()


def test_02_rapid_grpcio_reconnects_each_answer(guest):
    import grpc
    failures = []
    for round_ in range(1, ROUNDS + 1):
        if round_ % 5 == 0:
            _abandoned_connection(guest.agent_socket)
        started = time.monotonic()
        try:
            status = _check_once(guest.agent_socket, timeout=CYCLE_DEADLINE, wait_for_ready=True)
        except grpc.RpcError as error:
            failures.append(f"round {round_}: {error.code().name} {error.details()} "
                            f"after {time.monotonic() - started:.1f}s")
            continue
        if status != health_pb2.HealthCheckResponse.SERVING:
            failures.append(f"round {round_}: status {status}")
    if failures:
        raise guest.fail("reconnects that did not answer:\n" + "\n".join(failures))


def _abandoned_ttrpc_connection(socket_path) -> None:
    """A host connection that sends a whole ttrpc Check request and leaves without its answer."""
    body = ac.ttrpc_request("grpc.Health", "Check", health_pb2.CheckRequest().SerializeToString())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(socket_path))
        sock.sendall(ac.TTRPC_HEADER.pack(len(body), 1, ac.TTRPC_REQUEST, 0) + body)


def test_03_rapid_ttrpc_reconnects_each_answer(guest):
    failures = []
    for round_ in range(1, ROUNDS + 1):
        if round_ % 5 == 0:
            _abandoned_ttrpc_connection(guest.agent_socket)
        started = time.monotonic()
        client = ac.TtrpcClient(guest.agent_socket)
        try:
            status = client.call("Check", health_pb2.CheckRequest(), timeout=CYCLE_DEADLINE).status
        except ac.RpcFailed as error:
            failures.append(f"round {round_}: {error} after {time.monotonic() - started:.1f}s")
            continue
        finally:
            client.close()
        if status != health_pb2.HealthCheckResponse.SERVING:
            failures.append(f"round {round_}: status {status}")
    if failures:
        raise guest.fail("ttrpc reconnects that did not answer:\n" + "\n".join(failures))


def test_04_kata_agent_ctl_reconnect_answers(guest):
    client = ac.CtlClient(guest.agent_socket)
    try:
        reply = client.call("Check", health_pb2.CheckRequest(), timeout=CYCLE_DEADLINE)
    except ac.RpcFailed as error:
        raise guest.fail(f"kata-agent-ctl (ttrpc) after the reconnects: {error}") from None
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    # And grpcio right after kata-agent-ctl's connection closed.
    assert _check_once(guest.agent_socket, timeout=CYCLE_DEADLINE) == health_pb2.HealthCheckResponse.SERVING
