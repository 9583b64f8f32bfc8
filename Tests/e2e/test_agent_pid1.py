"""The static agent starts as PID 1 with nothing but the kernel's environment.

The other agent tests pass guests.SWIFT_RUNTIME_ENV on the kernel command line because a static
Swift executable aborts before main when /proc is not mounted ("Unable to obtain Swift runtime
path": the runtime's backtracer initialiser reads /proc/self/exe). A real guest boots without
that help, so this test boots without it: it fails until the agent itself copes (e.g. a
high-priority C constructor that mounts /proc when it runs as PID 1).
"""

from __future__ import annotations

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
    finally:
        client.close()
        guest.kill()
