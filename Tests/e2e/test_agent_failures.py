"""Boots that fail end the test with the guest console shown, within a deadline."""

from __future__ import annotations

import pytest

import guests
from conftest import require_root
from vm import GuestError


@pytest.mark.parametrize("case", ["bad-server-addr", "missing-module"])
def test_failing_agent_boot_fails_fast_with_console(kernel, tmp_path, case, request):
    """A bad agent parameter (the agent cannot serve) and a guest without the virtio-serial
    modules (the channel never appears) both fail readiness by the deadline, never hang,
    and the failure message carries the console."""
    require_root("QEMU guests and initrd device nodes")
    if case == "bad-server-addr":
        initrd = guests.build(guests.GuestRecipe("minimal"), kernel)
        spec = guests.initrd_spec(kernel, initrd, case)
        # Whatever the transport put there (nothing on a vhost-vsock host), the agent gets
        # one address it cannot serve.
        params = [p for p in spec.append.split() if not p.startswith("agent.server_addr=")]
        spec.append = " ".join(params + ["agent.server_addr=bogus://nowhere"])
    else:
        if kernel.builtin_drivers:
            # virtio-serial is built into the kata kernel: leaving its modules out takes a
            # kernel that has them as modules.
            kernel = request.getfixturevalue("debian_kernel")
        initrd = guests.build(guests.GuestRecipe("minimal", boot_modules=False), kernel)
        spec = guests.initrd_spec(kernel, initrd, case)
    with pytest.raises(GuestError) as error:
        guest, client, _ = guests.boot_agent(spec, tmp_path, "ttrpc", timeout=30)
        client.close()
        guest.kill()
    assert "---- console of" in str(error.value)
