"""The agent as /sbin/init of an osbuilder ext4 image, booted from virtio-blk (root=/dev/vda1)
and from an emulated NVDIMM with DAX (root=/dev/pmem0p1 rootflags=dax). The kata kernel has
both built in and mounts the root itself (no initrd). The Debian cloud kernel builds
virtio_blk and nd_pmem as modules, so there a module-loading first stage (osbuilder's
modloader template, built from the cached kernel's modules) mounts the root and hands over to
the agent, which then loads the image's own modules (virtio-serial, vsock)."""

from __future__ import annotations

import pytest

import agentclient as ac
import guests
import scenario as sc
import kernel as kernel_mod
from agentclient import agent_pb2 as pb, health_pb2
from conftest import require_root
from vm import BootSpec

ROOTS = {
    "virtio-blk": "root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4",
    "nvdimm-dax": "root=/dev/pmem0p1 rootflags=dax,data=ordered,errors=remount-ro ro rootfstype=ext4",
}


def image_spec(kernel, medium: str) -> BootSpec:
    """Boot spec of the busybox-template image (with its DAX header) on `medium`."""
    image = guests.build(guests.GuestRecipe("busybox", kind="image"), kernel)
    dax = medium == "nvdimm-dax"
    if kernel.builtin_drivers:
        # The pmem namespace is probed asynchronously: rootwait, not a first stage.
        stage, root = None, f"{ROOTS[medium]} rootwait"
    else:
        modules = kernel_mod.NVDIMM_MODULES if dax else ["virtio_pci"] + kernel_mod.VIRTIO_BLK_MODULES
        stage, root = guests.modloader(kernel, modules), ROOTS[medium]
    return BootSpec(kernel=kernel, initrd=stage, name=f"image-{medium}", memory=guests.GUEST_MEMORY,
                    disk=None if dax else image, nvdimm=image if dax else None,
                    append=guests.agent_append(f"{root} init=/sbin/init"))


@pytest.mark.parametrize("medium", list(ROOTS))
def test_image_boots_agent_as_init(kernel, tmp_path, medium):
    require_root("QEMU guests and initrd device nodes")
    spec = image_spec(kernel, medium)
    guest, client, _ = guests.boot_agent(spec, tmp_path, "ttrpc")
    try:
        # rootflags=dax makes ext4 refuse a device without DAX, so this mount is a DAX one.
        device = "pmem0p1" if medium == "nvdimm-dax" else "vda1"
        guest.wait_console(rf"EXT4-fs \({device}\): mounted filesystem", timeout=5)
        assert client.call("Check", health_pb2.CheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        try:
            details = client.call("GetGuestDetails", pb.GuestDetailsRequest(mem_block_size=True))
            assert details.agent_details.version
            client.call("CreateSandbox", pb.CreateSandboxRequest(hostname="image", sandbox_id="image"))
            try:
                client.call("DestroySandbox", pb.DestroySandboxRequest(), timeout=30)
            except ac.RpcFailed as lost:
                # Over ttrpc the connection can close (UNAVAILABLE) a moment before QEMU exits:
                # judged by the power-off below.
                if guest.running and lost.code != "UNAVAILABLE":
                    raise
        except ac.RpcFailed as error:
            raise guest.fail(str(error)) from error
        assert guest.wait_exit(timeout=30) == 0
    finally:
        client.close()
        guest.kill()


def test_containers_run_from_the_read_only_agent_binary(kernel, tmp_path):
    """On an image the agent binary lies on the read-only root: container inits and the init
    zygote run from it (writes through /proc/<pid>/exe fail with EROFS), not from a 28 MB
    sealed memfd copy (an initrd guest uses a read-only bind instead: test_agent_initrd.py)."""
    require_root("QEMU guests and initrd device nodes")
    guest, client, _ = guests.boot_agent(image_spec(kernel, "virtio-blk"), tmp_path, "ttrpc")
    try:
        try:
            client.call("CreateSandbox", pb.CreateSandboxRequest(hostname="image", sandbox_id="image"))
            sc.create_on_read_only_guest(client, "probe", [sc.BB, "sleep", "100000"])
            client.call("StartContainer", pb.StartContainerRequest(container_id="probe"))
            status, out, err = sc.run(client, "probe", "exes",
                                      "for p in /proc/[0-9]*; do echo ${p#/proc/} $(readlink $p/exe); done")
        except ac.RpcFailed as error:
            raise guest.fail(str(error)) from error
        assert status == 0, err
        exes = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        assert not [exe for exe in exes.values() if "memfd:" in exe], f"a sealed copy was made on a read-only root:\n{out}"
        agent = exes.get("1")
        assert agent, f"no executable for PID 1:\n{out}"
        # The init zygote: another process executed from the agent's own binary.
        assert [pid for pid, exe in exes.items() if exe == agent and pid != "1"], f"no zygote from {agent}:\n{out}"
    finally:
        client.close()
        guest.kill()
