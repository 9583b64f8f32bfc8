"""9. Pod network setup: what the runtime sends for one NIC (UpdateInterface + UpdateRoutes)
against doing the same with iproute2, each in a fresh network namespace on the host.

Per run: two namespaces with the same veth pair (the "pod NIC" v0 with the runtime's MAC, its
peer up). Ours: a kata-agent serving inside one (`ip netns exec`), driven by Python grpcio:
UpdateInterface (rename v0 to eth0, IPv4 + IPv6 address, MTU, up) then UpdateRoutes (a
connected route and a default route), timed from the first request to the second reply.
Reference: the same configuration with `ip` commands, one process per command as a shell
script would run them, and as one `ip -batch` process. Runs alternate; the namespaces are
deleted after each run.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
import uuid

from agentproc import AgentProcess, load_stubs
from benchlib import Figure, Series, Skipped

MAC = "02:5b:00:00:00:0a"
IP_COMMANDS = [
    ["link", "set", "v0", "down"],
    ["link", "set", "v0", "name", "eth0"],
    ["addr", "replace", "10.88.0.2/24", "dev", "eth0"],
    ["addr", "replace", "fd88::2/64", "dev", "eth0"],
    ["link", "set", "eth0", "mtu", "1400", "up"],
    ["route", "replace", "10.88.0.0/24", "dev", "eth0", "scope", "link", "proto", "boot"],
    ["route", "replace", "default", "via", "10.88.0.1", "dev", "eth0", "proto", "boot"],
]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _namespace() -> str:
    name = "ksw-bench-" + uuid.uuid4().hex[:8]
    _ip("netns", "add", name)
    _ip("-n", name, "link", "add", "v0", "address", MAC, "type", "veth", "peer", "name", "v1")
    _ip("-n", name, "link", "set", "v1", "up")
    return name


def _requests(agent_pb2):
    interface = agent_pb2.UpdateInterfaceRequest()
    i = interface.interface
    i.device, i.name, i.hwAddr, i.mtu, i.type = "eth0", "eth0", MAC, 1400, "virtual"
    a = i.IPAddresses.add()
    a.family, a.address, a.mask = 0, "10.88.0.2", "24"
    a = i.IPAddresses.add()
    a.family, a.address, a.mask = 1, "fd88::2", "64"
    routes = agent_pb2.UpdateRoutesRequest()
    r = routes.routes.Routes.add()
    r.dest, r.device, r.scope, r.family = "10.88.0.0/24", "eth0", 253, 0
    r = routes.routes.Routes.add()
    r.dest, r.gateway, r.device, r.family = "", "10.88.0.1", "eth0", 0
    return interface, routes


def _ours(ctx, agent_pb2, health_pb2, agent_stub, health_stub, namespace: str) -> float:
    wrapper = os.path.join(ctx["cache"], f"agent-in-{namespace}")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec ip netns exec {namespace} {ctx['agent']} \"$@\"\n")
    os.chmod(wrapper, stat.S_IRWXU)
    try:
        with AgentProcess(wrapper, health_stub, health_pb2) as proc:
            proc.start()
            stub = agent_stub(proc.channel)
            interface, routes = _requests(agent_pb2)
            start = time.perf_counter()
            stub.UpdateInterface(interface, timeout=30)
            stub.UpdateRoutes(routes, timeout=30)
            return (time.perf_counter() - start) * 1000.0
    finally:
        os.unlink(wrapper)


def _ip_commands(namespace: str) -> float:
    start = time.perf_counter()
    for command in IP_COMMANDS:
        _ip("-n", namespace, *command)
    return (time.perf_counter() - start) * 1000.0


def _ip_batch(namespace: str) -> float:
    script = "".join(" ".join(command) + "\n" for command in IP_COMMANDS)
    start = time.perf_counter()
    subprocess.run(["ip", "-n", namespace, "-batch", "-"], input=script.encode(), check=True,
                   capture_output=True, timeout=30)
    return (time.perf_counter() - start) * 1000.0


def run(ctx) -> list:
    agent = ctx["agent"]
    if not os.path.isfile(agent):
        return [Skipped("network", "Pod network setup", f"no agent at {agent}")]
    if os.geteuid() != 0:
        return [Skipped("network", "Pod network setup", "needs root for network namespaces")]
    agent_pb2, health_pb2, _oci, agent_stub, health_stub = load_stubs()
    runs = 5 if ctx["quick"] else 30
    ours, commands, batch = [], [], []
    for index in range(runs + 1):  # the first run warms the page cache and is dropped
        spaces = [_namespace(), _namespace(), _namespace()]
        try:
            got = (_ours(ctx, agent_pb2, health_pb2, agent_stub, health_stub, spaces[0]),
                   _ip_commands(spaces[1]), _ip_batch(spaces[2]))
        finally:
            for name in spaces:
                subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        if index > 0:
            ours.append(got[0])
            commands.append(got[1])
            batch.append(got[2])
    note = (f"{runs} runs, fresh namespaces each; ours includes the Python grpcio client's per-call cost "
            f"(two unary calls on an open channel); ip -batch: {Series('', 'ms', batch).median:.2f} ms median "
            f"for the same {len(IP_COMMANDS)} commands in one process")
    return [
        Figure("net-setup", "Network setup for one NIC: UpdateInterface + UpdateRoutes vs ip commands",
               Series("kata-agent UpdateInterface + UpdateRoutes (gRPC, grpcio client)", "ms", ours),
               Series(f"{len(IP_COMMANDS)} ip commands (one process each)", "ms", commands),
               note=note, command="bench/run.py --only network"),
        Figure("net-setup-ip-batch", "Network setup for one NIC with ip -batch (reference only)",
               Series("ip -batch, same commands", "ms", batch), command="bench/run.py --only network"),
    ]
