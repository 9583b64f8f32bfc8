"""The module-loading path, on Debian's cloud kernel (the other VM tests boot the kata kernel,
which builds everything in): a busybox initrd carrying virtio-serial and vsock as modules,
which the agent loads at boot from /etc/modules-load.d, and CreateSandbox.kernel_modules
loading `loop` with a parameter that a container then reads back."""

from __future__ import annotations

import agentclient as ac
import guests
import scenario as sc
from agentclient import agent_pb2 as pb
from conftest import require_root

CID = "modules"


def test_debian_kernel_guest_loads_its_modules(debian_kernel, tmp_path):
    require_root("QEMU guests and initrd device nodes")
    kernel = debian_kernel
    assert not kernel.builtin_drivers
    wanted = kernel.loadable(guests.BOOT_MODULES)
    assert "virtio_console" in wanted, "the Debian kernel was expected to build virtio_console as a module"
    initrd = guests.build(guests.GuestRecipe("busybox"), kernel)
    spec = guests.initrd_spec(kernel, initrd, "debian-modules")
    # The agent's channel itself needs virtio_console loaded: readiness proves the boot modules.
    guest, client, _ = guests.boot_agent(spec, tmp_path, "grpcio")
    try:
        name, param, value = guests.ON_DEMAND_MODULE
        try:
            sc.create_sandbox(client)       # kernel_modules: loop max_loop=5
            sc.create_container(client, CID, [sc.BB, "sh", "-c", sc.INIT_SCRIPT], limits=False)
            client.call("StartContainer", pb.StartContainerRequest(container_id=CID))
            status, out, err = sc.run(client, CID, "read", f"cat /sys/module/{name}/parameters/{param}; "
                                      "cut -d' ' -f1 /proc/modules")
        except ac.RpcFailed as error:
            raise guest.fail(str(error)) from error
        assert status == 0, err
        lines = out.split()
        assert lines[0] == value, out
        loaded = set(lines[1:])
        assert {"virtio_console", "vsock", name} <= loaded, f"/proc/modules: {sorted(loaded)}"
    finally:
        client.close()
        guest.kill()
