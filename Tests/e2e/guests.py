"""Agent guests for the end-to-end tests: osbuilder-built initrds and images around the static
agent, the kernel modules the Debian cloud kernel needs, and a few extra files.

Built artefacts are cached under .cache/e2e keyed by their inputs, so a test run builds each
guest once and reruns reuse them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import subprocess
import time
from typing import Optional

import agentclient
import cachelock
import kernel as kernel_mod
import transport
from kernel import Kernel
from vm import BootSpec, Guest

REPO = agentclient.REPO
CACHE = agentclient.CACHE
BUSYBOX = os.environ.get("BUSYBOX", "/bin/busybox")

# The agent's virtio-serial address (agent.server_addr) when the host has no vhost-vsock.
SERIAL_SERVER_ADDR = transport.SERIAL_SERVER_ADDR

# Loaded by the agent at boot (listed in /etc/modules-load.d by osbuilder).
BOOT_MODULES = kernel_mod.VIRTIO_SERIAL_MODULES + kernel_mod.VSOCK_MODULES
# Carried in the guest but not loaded at boot: CreateSandbox.kernel_modules loads it with a
# parameter, readable afterwards in /sys/module/loop/parameters/max_loop (mode 0444).
ON_DEMAND_MODULE = ("loop", "max_loop", "5")

# Where the extra files land in the guest.
CONTAINER_ROOTFS = "/opt/e2e/rootfs"
HOOK_DIR = "/opt/e2e/hooks"
# Inside the container rootfs, so a container exec can be the in-guest vsock client.
GUEST_CTL = f"{CONTAINER_ROOTFS}/bin/kata-agent-ctl"

# The debug console's vsock port, and how the in-guest kata-agent-ctl reaches it through
# vsock loopback (CID 1).
CONSOLE_VPORT = 1026
CONSOLE_CLIENT_ARGS = ["--timeout", "30", "console", "--server-addr", f"vsock://1:{CONSOLE_VPORT}"]

PRESTART_HOOK = f"""#!{CONTAINER_ROOTFS}/bin/busybox sh
# A guest prestart hook: records that it ran, with its argv[1] and the OCI state it was given.
state=$({CONTAINER_ROOTFS}/bin/busybox cat)
echo "$1 $state" > {CONTAINER_ROOTFS}/hook-ran
"""


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, pathlib.Path) and part.is_file():
            st = part.stat()
            h.update(f"{part}:{st.st_size}:{st.st_mtime_ns}".encode())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()[:16]


def static_probe(source: pathlib.Path) -> pathlib.Path:
    """A probe program (Tests/e2e/probes/*.c) built static with the host's gcc, cached by its
    source, to run inside a guest's containers (whose busybox lacks what the probe does)."""
    import pytest
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip(f"gcc is needed to build the static probe {source.name}")
    out = CACHE / "probes" / f"{source.stem}-{_digest(source)}"
    with cachelock.held(CACHE):
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            subprocess.run([gcc, "-static", "-O2", "-o", str(tmp), str(source)], check=True)
            tmp.rename(out)
    return out


def stripped(binary: pathlib.Path) -> pathlib.Path:
    """A stripped copy of a (debug, static, 100+ MB) executable: TCG guests unpack the initrd
    byte by byte, so size is boot time."""
    if not binary.is_file():
        raise FileNotFoundError(f"{binary} not built (swift build --product {binary.name})")
    out = CACHE / "bin" / f"{binary.name}-{_digest(binary)}"
    with cachelock.held(CACHE):
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            for stale in out.parent.glob(f"{binary.name}-*"):
                if len(stale.name) == len(out.name):   # same name, older digest
                    stale.unlink()
            tmp = out.with_suffix(".tmp")
            subprocess.run(["strip", "-o", str(tmp), str(binary)], check=True)
            tmp.rename(out)
    return out


def osbuilder_binary() -> pathlib.Path:
    return pathlib.Path(os.environ.get("OSBUILDER_BIN", REPO / ".build" / "debug" / "osbuilder"))


@dataclasses.dataclass
class GuestRecipe:
    """Inputs of one agent guest."""

    template: str = "minimal"              # osbuilder template: minimal | busybox
    with_ctl: bool = False                  # put the static kata-agent-ctl in the guest
    with_sh: bool = False                   # busybox as /bin/sh (a debug console shell)
    kind: str = "initrd"                    # initrd | image
    boot_modules: bool = True               # False: no virtio-serial/vsock modules (a failing boot)
    extra_modules: tuple = ()               # more modules loaded at boot (Debian kernel: disk drivers)
    extra_files: tuple = ()                 # more (host path, guest path) pairs
    # Uncompressed by default: gzip -9 of a debug-size agent takes a minute to build and
    # seconds to unpack under TCG, for nothing a test checks (the Debian kernel takes any).
    compression: str = os.environ.get("KATA_E2E_INITRD_COMPRESSION", "none")


def _extra_files(workdir: pathlib.Path, recipe: GuestRecipe) -> list[tuple[pathlib.Path, str]]:
    hook = workdir / "prestart-hook"
    # Rewritten only when it changed: its mtime is part of the guest's cache key.
    if not hook.is_file() or hook.read_text() != PRESTART_HOOK:
        hook.write_text(PRESTART_HOOK)
    hook.chmod(0o755)
    files = [(pathlib.Path(BUSYBOX), f"{CONTAINER_ROOTFS}/bin/busybox"),
             (hook, f"{HOOK_DIR}/prestart/10-record")]
    if recipe.with_ctl:
        files.append((stripped(pathlib.Path(agentclient.ctl_binary())), GUEST_CTL))
    if recipe.with_sh:
        files.append((pathlib.Path(BUSYBOX), "/bin/sh"))
    files += [(pathlib.Path(src), dest) for src, dest in recipe.extra_files]
    return files


def build(recipe: GuestRecipe, kernel: Kernel) -> pathlib.Path:
    """Build (or reuse) the guest initrd/image for `recipe` with osbuilder."""
    with cachelock.held(CACHE):
        agent = stripped(pathlib.Path(agentclient.agent_binary()))
        osb = osbuilder_binary()
        if not osb.is_file():
            raise FileNotFoundError(f"{osb} not built (swift build --product osbuilder)")
        staging = CACHE / "extra"
        staging.mkdir(parents=True, exist_ok=True)
        extra = _extra_files(staging, recipe)
        modules = BOOT_MODULES + list(recipe.extra_modules) if recipe.boot_modules else []
        key = _digest(recipe, agent, osb, kernel.version, modules, ON_DEMAND_MODULE,
                      [(p, d) for p, d in extra], PRESTART_HOOK, *[p for p, _ in extra])
        suffix = "cpio" if recipe.kind == "initrd" else "img"
        # Per kernel too, so guests for the kata and Debian kernels do not evict each other.
        prefix = f"{recipe.kind}-{recipe.template}-{_digest(recipe)[:8]}-{kernel.version}-"
        out = CACHE / f"{prefix}{key}.{suffix}"
        if out.exists():
            return out
        # Older builds of the same recipe (other agent or osbuilder binaries) are dead weight.
        for stale in CACHE.glob(f"{prefix}*"):
            stale.unlink()
        # osbuilder lists every --modules module in /etc/modules-load.d (loaded at boot); the
        # on-demand module must be in the guest and in its modules.dep but not loaded. So: stage
        # the rootfs, add that module and re-run depmod on the staged tree, then pack it.
        rootfs = CACHE / f"rootfs-{recipe.template}-{key}"
        common = ["--templates", str(REPO / "rootfs-templates"), "--template", recipe.template,
                  "--agent", str(agent), "--kernel-modules-dir", str(kernel.modules_dir),
                  "--modules", " ".join(modules)]
        for src, dest in extra:
            common += ["--extra-file", f"{src}:{dest}"]
        log = [_run([str(osb), "rootfs", *common, "--rootfs-dir", str(rootfs), "--force"])]
        if kernel.loadable([ON_DEMAND_MODULE[0]]):
            on_demand = kernel.module_path(ON_DEMAND_MODULE[0])
            target = rootfs / "lib" / "modules" / kernel.version / on_demand.relative_to(kernel.modules_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(on_demand, target)
            log.append(_run(["depmod", "-b", str(rootfs), kernel.version]))
        pack = [str(osb), recipe.kind, "--rootfs", str(rootfs), "--output", str(out) + ".tmp"]
        if recipe.kind == "image":
            pack += ["--alignment-mb", "1", "--free-space", "16"]
        else:
            pack += ["--compression", recipe.compression]
        log.append(_run(pack))
        os.replace(str(out) + ".tmp", out)
        shutil.rmtree(rootfs, ignore_errors=True)
        (out.parent / (out.name + ".log")).write_text("\n".join(log))
        return out


def modloader(kernel: Kernel, modules: list[str]) -> pathlib.Path:
    """osbuilder's module-loading first stage (template `modloader`) for image boots on a
    kernel without the disk drivers built in (Kernel.builtin_drivers: none needed)."""
    osb = osbuilder_binary()
    key = _digest(osb, kernel.version, modules)
    out = CACHE / f"modloader-{key}.gz"
    with cachelock.held(CACHE):
        if not out.exists():
            log = _run([str(osb), "initrd", "--templates", str(REPO / "rootfs-templates"),
                        "--template", "modloader", "--kernel-modules-dir", str(kernel.modules_dir),
                        "--modules", " ".join(modules), "--output", str(out) + ".tmp"])
            os.replace(str(out) + ".tmp", out)
            (out.parent / (out.name + ".log")).write_text(log)
    return out


def _run(argv: list[str]) -> str:
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"failed ({proc.returncode}): {' '.join(argv)}\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return f"$ {' '.join(argv)}  # {time.monotonic() - started:.1f}s\n{proc.stdout}{proc.stderr}"


# A static Swift 6.3 executable aborts before main ("Unable to obtain Swift runtime path") when
# /proc is not mounted, which is the case for PID 1: the runtime's backtracer initialiser
# resolves its helper's path through /proc/self/exe unless SWIFT_BACKTRACE names it. The kernel
# hands unknown key=value parameters to init as environment, so the harness passes it there.
# test_agent_pid1.py boots without it and fails until the agent copes on its own.
SWIFT_RUNTIME_ENV = "SWIFT_BACKTRACE=enable=no,swift-backtrace=/nonexistent"


def agent_append(extra: str = "", runtime_env: bool = True, kind: str | None = None) -> str:
    """The agent's kernel parameters; the channel's match the transport Guest will give QEMU
    (`kind`, default the host's: vsock needs none, the agent's default address is vsock)."""
    channel = transport.kernel_params(kind or transport.default_kind())
    return " ".join(filter(None, [SWIFT_RUNTIME_ENV if runtime_env else "", "agent.log=debug",
                                  *channel, extra]))


# Debug builds make a 130 MB static agent, so an initrd unpacks to a few hundred MB of rootfs.
GUEST_MEMORY = "1G"


def initrd_spec(kernel: Kernel, initrd: pathlib.Path, name: str, append: str = "",
                runtime_env: bool = True) -> BootSpec:
    return BootSpec(kernel=kernel, initrd=initrd, append=agent_append(append, runtime_env),
                    name=name, memory=GUEST_MEMORY)


def boot_agent(spec: BootSpec, workdir: pathlib.Path, client_kind: str,
               timeout: float = 180) -> tuple[Guest, object, float]:
    """Boot `spec`, wait for Health.Check; returns (guest, client, host time of readiness).
    The guest is killed if readiness fails."""
    guest = Guest(spec, workdir).start()
    try:
        client = make_client(client_kind, guest)
        ready = agentclient.wait_ready(guest, client, timeout)
        return guest, client, ready
    except BaseException:
        guest.kill()
        raise


# For measuring readiness (bench_boot.py). grpcio's defaults suit a server that is up: a
# channel that first finds no server fails its calls fast and reconnects after 1 s, 1.6 s,
# 2.6 s..., and an early connection attempt gives up after 20 s; polled that way
# (agentclient.wait_ready), readiness was seen 0.3 to 5 s after the agent listened. One pending
# wait_for_ready call on a channel that retries every 0.1-0.2 s and lets a connection wait for
# the server's SETTINGS as long as the boot may take is answered 0.35-0.55 s after the agent's
# "listening" line (its first RPC): the bytes sent early wait in QEMU's chardev (or the vsock
# relay) until the agent reads them. Keep using that channel afterwards: QEMU's chardev serves
# one host connection at a time, and grpcio 1.51 can leave a closed channel's connection open,
# holding that slot (test_serial_reconnect.py covers the agent's side of reconnects).
def ready_channel(guest: Guest, timeout: float):
    """A grpc channel to the guest's agent, for `wait_ready` and `ChannelClient`."""
    import grpc
    guest.wait_until("agent channel socket", lambda: True if guest.agent_socket.exists() else None,
                     timeout, interval=0.01)
    return grpc.insecure_channel(f"unix:{guest.agent_socket}", options=[
        ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", int(timeout * 1000))])


def wait_ready(guest: Guest, channel, timeout: float) -> float:
    """Host monotonic time Health.Check first answered SERVING; GuestError (with the console)
    if not within `timeout` or if the guest dies first."""
    deadline = time.monotonic() + timeout
    health = agentclient.Stub(channel, agentclient.health_pb2.DESCRIPTOR.services_by_name["Health"])

    def probe() -> float:
        # Bounded so that wait_until notices a dead guest or the deadline between calls.
        remaining = min(10.0, max(0.1, deadline - time.monotonic()))
        reply = health.Check(agentclient.health_pb2.CheckRequest(), timeout=remaining, wait_for_ready=True)
        if reply.status != agentclient.health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"health status {reply.status}")
        return time.monotonic()
    return guest.wait_until("agent Health.Check SERVING", probe, timeout, interval=0.01)


def ttrpc_ready(guest: Guest, timeout: float) -> tuple["agentclient.TtrpcClient", float]:
    """A ttrpc client to the guest's agent and the host monotonic time Health.Check first
    answered SERVING over it, asked as Kata runtimes ask. The request is sent as soon as the
    host socket exists and waits in QEMU's chardev (or the vsock relay) until the agent reads
    it; each attempt is bounded so that a dead guest or the deadline is noticed."""
    guest.wait_until("agent channel socket", lambda: True if guest.agent_socket.exists() else None,
                     timeout, interval=0.01)
    client = agentclient.TtrpcClient(guest.agent_socket)
    deadline = time.monotonic() + timeout

    def probe() -> float:
        remaining = min(10.0, max(0.1, deadline - time.monotonic()))
        reply = client.call("Check", agentclient.health_pb2.CheckRequest(), timeout=remaining)
        if reply.status != agentclient.health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"health status {reply.status}")
        return time.monotonic()
    try:
        return client, guest.wait_until("agent Health.Check SERVING over ttrpc", probe, timeout, interval=0.01)
    except BaseException:
        client.close()
        raise


class ChannelClient:
    """agentclient.PyClient's `call` over an existing channel (`ready_channel`'s)."""

    name = "grpcio"

    def __init__(self, channel) -> None:
        import grpc
        self._grpc = grpc
        self.channel = channel
        self.agent = agentclient.Stub(channel, agentclient.agent_pb2.DESCRIPTOR.services_by_name["AgentService"])
        self.health = agentclient.Stub(channel, agentclient.health_pb2.DESCRIPTOR.services_by_name["Health"])

    def call(self, rpc: str, request, timeout: float = 60):
        stub = self.health if rpc in agentclient.HEALTH_RPCS else self.agent
        try:
            return getattr(stub, rpc)(request, timeout=timeout)
        except self._grpc.RpcError as error:
            raise agentclient.RpcFailed(rpc, error.code().name, error.details() or "") from None

    def close(self) -> None:
        self.channel.close()


def make_client(kind: str, guest: Guest):
    if kind == "ttrpc":
        return agentclient.TtrpcClient(guest.agent_socket)
    if kind == "grpcio":
        return agentclient.PyClient(guest.agent_socket)
    if kind == "kata-agent-ctl":
        return agentclient.CtlClient(guest.agent_socket)
    raise ValueError(f"unknown client {kind}")
