"""How the host reaches the agent in a guest: vsock (production) or virtio-serial (these build
machines), chosen from facts about the host by a pure function so both branches are testable
on a machine that has only one of them.

- vsock: `-device vhost-vsock-pci,guest-cid=N` with a CID unique per guest, the agent on its
  default address (vsock://-1:1024, so no agent.server_addr on the kernel command line), and
  the host connecting over AF_VSOCK to (N, 1024). Host clients (grpcio, kata-agent-ctl) talk
  to a unix socket that `StreamRelay` joins to that vsock connection: Debian 12's grpcio (1.51)
  predates gRPC core's `vsock:` target (added in 1.56), and one client address form keeps
  both clients unchanged.
- serial: a virtio-serial port named agent.channel.0 on a QEMU chardev unix socket, selected in
  the guest by `agent.server_addr=serial://agent.channel.0`.

`KATA_E2E_TRANSPORT=serial` forces the serial path on a host with vhost-vsock; `vsock` forces
vsock (and fails plainly where the host cannot do it); unset or `auto` picks vsock when
/dev/vhost-vsock opens read-write.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import itertools
import os
import pathlib
import select
import socket
import struct
import threading
import time
from typing import Callable, Optional

VHOST_VSOCK = "/dev/vhost-vsock"
AGENT_VSOCK_PORT = 1024                       # the agent's default: vsock://-1:1024
SERIAL_PORT_NAME = "agent.channel.0"
SERIAL_SERVER_ADDR = os.environ.get("KATA_E2E_SERVER_ADDR", f"serial://{SERIAL_PORT_NAME}")
TRANSPORT_ENV = "KATA_E2E_TRANSPORT"

# CIDs 0 (hypervisor), 1 (local), 2 (host) and U32_MAX (any) are reserved.
FIRST_GUEST_CID = 3
LAST_GUEST_CID = 0xFFFF_FFFE
# _IOW(VHOST_VIRTIO=0xAF, 0x60, __u64): what QEMU issues for guest-cid; EADDRINUSE when taken.
VHOST_VSOCK_SET_GUEST_CID = 0x4008AF60


class TransportError(RuntimeError):
    """The requested host-to-agent transport cannot be used on this host."""


@dataclasses.dataclass(frozen=True)
class HostFacts:
    """What the transport choice depends on."""

    vhost_vsock: bool                 # /dev/vhost-vsock exists and opens read-write
    requested: str = "auto"           # KATA_E2E_TRANSPORT: auto | serial | vsock
    why_no_vsock: str = ""            # the probe's reason, for messages


@dataclasses.dataclass(frozen=True)
class AgentTransport:
    """One guest's agent channel: QEMU arguments, kernel parameters, and where clients go."""

    kind: str                         # "vsock" | "serial"
    qemu_args: tuple[str, ...]
    kernel_params: tuple[str, ...]
    client_socket: pathlib.Path       # unix socket host clients connect to
    address: str                      # what that socket leads to, for messages and reports
    vsock_cid: Optional[int] = None


def probe_vhost_vsock(path: str = VHOST_VSOCK) -> tuple[bool, str]:
    """Whether `path` opens read-write (QEMU needs exactly that), and why not."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as error:
        return False, f"cannot open {path}: {error.strerror} (errno {error.errno})"
    os.close(fd)
    return True, ""


def host_facts(env: Optional[dict[str, str]] = None, device: str = VHOST_VSOCK) -> HostFacts:
    env = os.environ if env is None else env
    usable, why = probe_vhost_vsock(device)
    return HostFacts(vhost_vsock=usable, requested=env.get(TRANSPORT_ENV, "auto") or "auto",
                     why_no_vsock=why)


def transport_kind(facts: HostFacts) -> str:
    """vsock when the host can and nobody asked for serial; serial otherwise."""
    if facts.requested not in ("auto", "serial", "vsock"):
        raise TransportError(f"{TRANSPORT_ENV}={facts.requested!r}: expected auto, serial or vsock")
    if facts.requested == "serial":
        return "serial"
    if facts.requested == "vsock" and not facts.vhost_vsock:
        raise TransportError(f"{TRANSPORT_ENV}=vsock but this host cannot do vhost-vsock: "
                             f"{facts.why_no_vsock or VHOST_VSOCK + ' unusable'}")
    return "vsock" if facts.vhost_vsock else "serial"


def kernel_params(kind: str) -> tuple[str, ...]:
    """The agent's kernel parameters for a transport: none for vsock (its default address)."""
    return () if kind == "vsock" else (f"agent.server_addr={SERIAL_SERVER_ADDR}",)


def transport_for(kind: str, socket_path: pathlib.Path, cid: Optional[int] = None) -> AgentTransport:
    if kind == "vsock":
        if cid is None or not FIRST_GUEST_CID <= cid <= LAST_GUEST_CID:
            raise TransportError(f"vsock transport needs a guest CID in "
                                 f"[{FIRST_GUEST_CID}, {LAST_GUEST_CID}], got {cid}")
        return AgentTransport(
            kind, ("-device", f"vhost-vsock-pci,id=vsock0,guest-cid={cid}"), kernel_params(kind),
            socket_path, f"vsock://{cid}:{AGENT_VSOCK_PORT}", cid)
    if kind == "serial":
        return AgentTransport(
            kind, ("-device", "virtio-serial-pci",
                   "-chardev", f"socket,id=agent0,path={socket_path},server=on,wait=off",
                   "-device", f"virtserialport,chardev=agent0,name={SERIAL_PORT_NAME}"),
            kernel_params(kind), socket_path, f"unix://{socket_path} (virtio-serial {SERIAL_PORT_NAME})")
    raise TransportError(f"unknown agent transport {kind!r}")


def select_transport(facts: HostFacts, socket_path: pathlib.Path, cid: Optional[int]) -> AgentTransport:
    """Host facts to QEMU arguments, kernel parameters and client address."""
    return transport_for(transport_kind(facts), socket_path, cid)


_host_facts_cache: list[HostFacts] = []


def default_kind() -> str:
    """The transport of this host (probed once per process): what guests.py writes on the
    kernel command line must match what Guest gives QEMU."""
    if not _host_facts_cache:
        _host_facts_cache.append(host_facts())
    return transport_kind(_host_facts_cache[0])


# ---- guest CIDs ---------------------------------------------------------------------------
_cid_sequence = itertools.count()


def candidate_cid(pid: int, sequence: int) -> int:
    """A CID distinct per (process, guest): the pid in the high bits, a counter in the low 12,
    so concurrent test processes on one host do not collide."""
    span = LAST_GUEST_CID - FIRST_GUEST_CID + 1
    return FIRST_GUEST_CID + (((pid & 0xFFFFF) << 12) | (sequence & 0xFFF)) % span


def cid_in_use(cid: int, device: str = VHOST_VSOCK) -> bool:
    """Ask vhost-vsock whether another VM holds `cid` (the ioctl QEMU makes; the claim ends
    when the descriptor closes)."""
    fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, VHOST_VSOCK_SET_GUEST_CID, struct.pack("=Q", cid))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return True
        raise
    finally:
        os.close(fd)
    return False


def allocate_cid(in_use: Callable[[int], bool] = cid_in_use, attempts: int = 64) -> int:
    for _ in range(attempts):
        cid = candidate_cid(os.getpid(), next(_cid_sequence))
        if not in_use(cid):
            return cid
    raise TransportError(f"no free vsock guest CID after {attempts} attempts")


def vsock_connector(cid: int, port: int = AGENT_VSOCK_PORT, timeout: float = 2.0) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((cid, port))
            sock.settimeout(None)
        except OSError:
            sock.close()
            raise
        return sock
    return connect


# ---- unix-socket-to-vsock relay -------------------------------------------------------------
class StreamRelay:
    """Listens on a unix socket and joins each accepted connection to a fresh backend
    connection from `connect`. Until the backend accepts (the agent not yet listening) the
    client connection is held and the backend retried, so early client bytes wait like they
    do in a virtio-serial chardev and readiness is seen as soon as the agent serves."""

    def __init__(self, listen_path: pathlib.Path, connect: Callable[[], socket.socket],
                 connect_deadline: float = 600.0, retry_interval: float = 0.02):
        self.listen_path = pathlib.Path(listen_path)
        self._connect = connect
        self._connect_deadline = connect_deadline
        self._retry_interval = retry_interval
        self._closed = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._listener: Optional[socket.socket] = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.last_error: Optional[BaseException] = None
        self.connections = 0

    def start(self) -> "StreamRelay":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.listen_path))
        listener.listen(16)
        self._listener = listener
        self._spawn(self._accept_loop)
        return self

    def close(self) -> None:
        """Stop accepting and drop every relayed connection; idempotent."""
        if self._closed.is_set():
            return
        with self._lock:
            self._closed.set()
            threads = list(self._threads)
        os.write(self._wake_w, b"x")
        for thread in threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        try:
            self.listen_path.unlink()
        except FileNotFoundError:
            pass

    def _spawn(self, target, *args) -> bool:
        """Starts a thread unless close() has begun (it joins only threads it can see)."""
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            if self._closed.is_set():
                return False
            self._threads.append(thread)
        thread.start()
        return True

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            ready, _, _ = select.select([self._listener, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            client, _ = self._listener.accept()
            self.connections += 1
            if not self._spawn(self._relay, client):
                client.close()

    def _relay(self, client: socket.socket) -> None:
        backend = None
        try:
            deadline = time.monotonic() + self._connect_deadline
            while backend is None:
                try:
                    backend = self._connect()
                except OSError as error:
                    self.last_error = error
                    # Paces retries of an external event (the agent's listen); close() ends it.
                    if time.monotonic() >= deadline or self._closed.wait(self._retry_interval):
                        return
            self._pump(client, backend)
        finally:
            client.close()
            if backend is not None:
                backend.close()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        while True:
            ready, _, _ = select.select([a, b, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            for src in (s for s in ready if s is not self._wake_r):
                try:
                    data = src.recv(65536)
                    if not data:
                        return
                    peer[src].sendall(data)
                except OSError as error:
                    self.last_error = error
                    return
