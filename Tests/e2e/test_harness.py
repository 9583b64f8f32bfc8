"""The harness proves itself with hand-made busybox initrds before any agent is involved."""

from __future__ import annotations

import re

import initramfs
import pytest
from conftest import require_root
from vm import BootSpec, Guest, GuestError

import kernel as kernel_mod


def test_busybox_init_prints_uptime_and_powers_off(kernel, workdir):
    require_root("initrd device nodes")
    initrd = initramfs.busybox_init(workdir / "uptime.gz", initramfs.UPTIME_SCRIPT)
    with Guest(BootSpec(kernel=kernel, initrd=initrd, name="uptime",
                        agent_channel=False), workdir / "uptime") as guest:
        match = guest.wait_console(r"INIT-UPTIME (\d+\.\d+)\r?\n", timeout=120)
        assert float(match.group(1)) > 0
        assert guest.wait_exit(timeout=60) == 0
        # The printk-based estimate of the same moment agrees with the guest's own clock.
        arrival = [t for t, line in guest.console_lines() if "INIT-UPTIME" in line][0]
        assert guest.uptime_at(arrival) is not None


def test_virtio_serial_port_reaches_the_host(kernel, workdir):
    """The agent's channel: a guest write to the port named agent.channel.0 arrives on the
    host socket, and host bytes arrive in the guest."""
    require_root("initrd device nodes")
    script = initramfs.LOAD_MODULES + r"""
port=
for p in /sys/class/virtio-ports/*; do
    [ "$($bb cat $p/name)" = agent.channel.0 ] && port=/dev/${p##*/}
done
echo "PORT $port"
# One open for both directions: the driver discards host data while the port is closed.
exec 3<>$port
echo hello-from-guest >&3
$bb head -n1 <&3 | $bb sed 's/^/GOT /'
$bb poweroff -f
"""
    initrd = initramfs.busybox_init(workdir / "vserial.gz", script, kernel,
                                    tuple(kernel_mod.VIRTIO_SERIAL_MODULES))
    with Guest(BootSpec(kernel=kernel, initrd=initrd, append="quiet", name="vserial"),
               workdir / "vserial") as guest:
        sock = guest.connect_agent_socket(timeout=30)
        with sock:
            sock.settimeout(120)
            data = b""
            while b"\n" not in data:
                chunk = sock.recv(100)
                if not chunk:
                    raise guest.fail("host socket closed before the guest wrote")
                data += chunk
            assert data == b"hello-from-guest\n"
            sock.sendall(b"hello-from-host\n")
            guest.wait_console(r"^GOT hello-from-host", timeout=60)
        assert re.search(r"^PORT /dev/vport\dp1", guest.console_text(), re.M)
        assert guest.wait_exit(timeout=60) == 0


def test_failing_boot_ends_with_the_console_shown(kernel, workdir):
    """A boot whose init never appears (no initrd, bad root) fails fast with the log."""
    with Guest(BootSpec(kernel=kernel, append="root=/dev/nonexistent", name="noinit",
                        agent_channel=False), workdir / "noinit") as guest:
        with pytest.raises(GuestError) as error:
            guest.wait_console(r"INIT-UPTIME", timeout=120)
        assert "Kernel panic" in str(error.value) or "VFS" in str(error.value)


@pytest.mark.parametrize("medium", ["virtio-blk", "nvdimm-dax"])
def test_modloader_stage_boots_a_disk_image(kernel, workdir, medium, tmp_path):
    """The module-loading first stage mounts an image's root (virtio-blk, or NVDIMM with DAX)
    and hands over to the image's /sbin/init."""
    require_root("initrd device nodes")
    import diskimage
    staging = tmp_path / "root"
    for d in ("sbin", "bin", "proc", "dev", "sys"):
        (staging / d).mkdir(parents=True)
    import shutil
    shutil.copy2(initramfs.BUSYBOX, staging / "bin" / "busybox")
    init = staging / "sbin" / "init"
    init.write_text("#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n"
                    "/bin/busybox grep ' / ' /proc/mounts | /bin/busybox sed 's/^/ROOT-MOUNT /'\n"
                    + initramfs.UPTIME_SCRIPT)
    init.chmod(0o755)
    dax = medium == "nvdimm-dax"
    image = diskimage.build(staging, tmp_path / "image.raw", size_mib=64, dax=dax)
    modules = kernel_mod.NVDIMM_MODULES if dax else kernel_mod.VIRTIO_SERIAL_MODULES + kernel_mod.VIRTIO_BLK_MODULES
    stage = initramfs.modloader(tmp_path / "stage.gz", kernel, modules)
    if dax:
        spec = BootSpec(kernel=kernel, initrd=stage, nvdimm=image, agent_channel=False, name="pmem",
                        append="root=/dev/pmem0p1 rootflags=dax,data=ordered,errors=remount-ro ro rootfstype=ext4")
    else:
        spec = BootSpec(kernel=kernel, initrd=stage, disk=image, agent_channel=False, name="vda",
                        append="root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4")
    with Guest(spec, workdir / medium) as guest:
        guest.wait_console(r"INIT-UPTIME", timeout=180)
        mount = guest.wait_console(r"^ROOT-MOUNT (\S+) / ext4 (\S+)", timeout=5)
        if dax:
            assert mount.group(1) == "/dev/pmem0p1"
            assert "dax" in mount.group(2), mount.group(0)
        else:
            assert mount.group(1) == "/dev/vda1"
        assert guest.wait_exit(timeout=60) == 0
