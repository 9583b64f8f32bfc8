"""The static agent starts as PID 1 with nothing but the kernel's environment.

The other agent tests pass guests.SWIFT_RUNTIME_ENV on the kernel command line because a static
Swift executable aborts before main when /proc is not mounted ("Unable to obtain Swift runtime
path": the runtime's backtracer initialiser reads /proc/self/exe). A real guest boots without
that help, so this test boots without it: it fails until the agent itself copes (e.g. a
high-priority C constructor that mounts /proc when it runs as PID 1). Its "startup" log line
gives the guest uptime of each start-up step, in order.
"""

from __future__ import annotations

import json

import guests
from agentclient import health_pb2
from conftest import require_root


def test_agent_starts_as_pid1_without_runtime_env(kernel, tmp_path):
    require_root("QEMU guests and initrd device nodes")
    initrd = guests.build(guests.GuestRecipe("minimal"), kernel)
    spec = guests.initrd_spec(kernel, initrd, "pid1-plain", runtime_env=False)
    guest, client, _ = guests.boot_agent(spec, tmp_path, "ttrpc", timeout=120)
    try:
        reply = client.call("Check", health_pb2.CheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert_startup_timeline(guest)
    finally:
        client.close()
        guest.kill()


# PID 1's start-up steps, in the order they run (the "startup" log line).
STARTUP_STEPS = ["exec", "main", "mounts", "config", "announce", "init_duties", "modules", "reaper",
                 "console", "devices", "engine"]


def assert_startup_timeline(guest):
    """One "startup" line gives each step's guest uptime, in order, before the server listens."""
    lines = [line for _, line in guest.console_lines() if '"msg":"startup"' in line]
    assert len(lines) == 1, f"expected one startup line, got {lines}"
    entry = json.loads(lines[0][lines[0].index("{"):])
    stamps = [float(entry[f"{step}_uptime_ms"]) for step in STARTUP_STEPS] + [float(entry["uptime_ms"])]
    assert stamps == sorted(stamps), f"start-up steps out of order: {entry}"
    assert 0 < stamps[0], entry
