"""The harness proves itself with hand-made busybox initrds before any agent is involved, and
its host-to-agent transport choice without QEMU.

This machine has no /dev/vhost-vsock, so the vsock branch is proven here only as far as the
arguments it produces and the relay's byte pumping (a unix backend standing in for the guest's
vsock port); README.md says what that leaves untested.
"""

from __future__ import annotations

import os
import pathlib
import re
import socket
import threading

import initramfs
import pytest
import transport as tp
import vm
from conftest import require_root
from kernel import Kernel
from transport import HostFacts
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
    with Guest(BootSpec(kernel=kernel, initrd=initrd, append="quiet", name="vserial",
                        transport="serial"), workdir / "vserial") as guest:
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


def test_guest_lifetime_kills_a_hung_qemu(kernel, workdir):
    """The deadline outside Python: a guest that hangs (panic=0 after a failed root mount)
    is SIGKILLed by its lifetime wrapper without the harness doing anything."""
    spec = BootSpec(kernel=kernel, append="root=/dev/nonexistent panic=0", name="hang",
                    agent_channel=False, lifetime=20)
    with Guest(spec, workdir / "hang") as guest:
        guest.wait_console(r"Kernel panic", timeout=120)
        assert guest.running
        status = guest.wait_exit(timeout=120)
        assert status in (137, -9), f"QEMU exited {status}, expected the wrapper's SIGKILL"


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


# ---- transport selection (no QEMU, no root) ----------------------------------------------
SOCK = pathlib.Path("/tmp/agent.sock")


def test_vhost_vsock_host_gets_the_vsock_device_and_the_default_address():
    t = tp.select_transport(HostFacts(vhost_vsock=True), SOCK, cid=42)
    assert t.kind == "vsock"
    assert t.qemu_args == ("-device", "vhost-vsock-pci,id=vsock0,guest-cid=42")
    assert not any("server_addr" in p for p in t.kernel_params)
    assert t.address == "vsock://42:1024"
    assert t.vsock_cid == 42 and t.client_socket == SOCK
    assert not any("virtio-serial" in a or "virtserialport" in a for a in t.qemu_args)


def test_host_without_vhost_vsock_gets_virtio_serial():
    t = tp.select_transport(HostFacts(vhost_vsock=False, why_no_vsock="ENOENT"), SOCK, cid=None)
    assert t.kind == "serial"
    assert t.kernel_params == ("agent.server_addr=serial://agent.channel.0",)
    assert "virtio-serial-pci" in t.qemu_args
    assert f"socket,id=agent0,path={SOCK},server=on,wait=off" in t.qemu_args
    assert "virtserialport,chardev=agent0,name=agent.channel.0" in t.qemu_args
    assert not any("vsock" in a for a in t.qemu_args)
    assert t.vsock_cid is None and t.client_socket == SOCK


def test_environment_forces_serial_on_a_vsock_host():
    facts = tp.host_facts(env={tp.TRANSPORT_ENV: "serial"}, device="/dev/null")
    assert facts.vhost_vsock and facts.requested == "serial"
    assert tp.select_transport(facts, SOCK, cid=7).kind == "serial"
    assert tp.transport_kind(tp.host_facts(env={}, device="/dev/null")) == "vsock"


def test_forcing_vsock_without_vhost_vsock_says_why():
    facts = tp.host_facts(env={tp.TRANSPORT_ENV: "vsock"}, device="/nonexistent/vhost-vsock")
    with pytest.raises(tp.TransportError, match="cannot open /nonexistent/vhost-vsock"):
        tp.transport_kind(facts)
    with pytest.raises(tp.TransportError, match="expected auto, serial or vsock"):
        tp.transport_kind(HostFacts(vhost_vsock=True, requested="tcp"))


def test_probe_needs_read_write(tmp_path):
    readonly = tmp_path / "ro"
    readonly.write_text("")
    readonly.chmod(0o400)
    assert tp.probe_vhost_vsock("/dev/null") == (True, "")
    assert tp.probe_vhost_vsock(str(tmp_path))[0] is False          # EISDIR
    if os.geteuid() != 0:                                            # root opens anything
        assert tp.probe_vhost_vsock(str(readonly))[0] is False


def test_vsock_needs_a_valid_guest_cid():
    for bad in (None, 0, 1, 2, 0xFFFF_FFFF):
        with pytest.raises(tp.TransportError, match="guest CID"):
            tp.transport_for("vsock", SOCK, bad)


def test_guest_cids_are_distinct_and_never_reserved():
    cids = {tp.candidate_cid(pid, seq) for pid in (1, 2, 4242, 0xFFFFF, 0x7FFFFFFF) for seq in range(300)}
    assert len(cids) == 5 * 300 - 300            # pids 0xFFFFF and 0x7FFFFFFF share low bits
    assert all(tp.FIRST_GUEST_CID <= c <= tp.LAST_GUEST_CID for c in cids)
    taken = set()
    allocated = [tp.allocate_cid(in_use=lambda c: c in taken or taken.add(c)) for _ in range(50)]
    assert len(set(allocated)) == 50


def test_allocation_skips_cids_in_use_and_gives_up_plainly():
    busy = {tp.candidate_cid(os.getpid(), 0)}
    assert tp.allocate_cid(in_use=lambda c: c in busy) not in busy
    with pytest.raises(tp.TransportError, match="no free vsock guest CID"):
        tp.allocate_cid(in_use=lambda c: True, attempts=3)


def _guest_command(monkeypatch, tmp_path, kind):
    monkeypatch.setattr(vm, "kvm_usable", lambda *_: False)
    monkeypatch.setattr(tp, "cid_in_use", lambda c, device=tp.VHOST_VSOCK: False)
    monkeypatch.setattr(tp, "allocate_cid", lambda: 1234)
    kernel = Kernel(tmp_path)
    guest = vm.Guest(vm.BootSpec(kernel=kernel, transport=kind), tmp_path / "g")
    try:
        return guest, guest.command()
    finally:
        guest.kill()


def test_guest_command_carries_the_selected_transport(monkeypatch, tmp_path):
    guest, args = _guest_command(monkeypatch, tmp_path, "vsock")
    assert "vhost-vsock-pci,id=vsock0,guest-cid=1234" in args
    assert not any("virtserialport" in a for a in args)
    assert guest.transport is not None and guest.transport.client_socket == guest.agent_socket
    guest, args = _guest_command(monkeypatch, tmp_path, "serial")
    assert f"virtserialport,chardev=agent0,name={vm.AGENT_PORT_NAME}" in args
    assert not any("vhost-vsock" in a for a in args)


def test_agent_kernel_parameters_follow_the_transport():
    import guests
    assert "agent.server_addr=" not in guests.agent_append(kind="vsock")
    assert f"agent.server_addr={tp.SERIAL_SERVER_ADDR}" in guests.agent_append(kind="serial")


def _unix_server(path: pathlib.Path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    return server


def test_relay_holds_the_client_until_the_backend_listens(tmp_path):
    """Like a virtio-serial chardev: a client connecting before the agent listens is not
    refused; its bytes are delivered once the backend accepts, and replies come back."""
    backend_path = tmp_path / "backend.sock"
    attempts = threading.Semaphore(0)

    def connect() -> socket.socket:
        attempts.release()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(backend_path))
        except OSError:
            sock.close()
            raise
        return sock

    relay = tp.StreamRelay(tmp_path / "relay.sock", connect, connect_deadline=60).start()
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(60)
        client.connect(str(relay.listen_path))
        client.sendall(b"early bytes\n")
        for _ in range(3):                      # the relay retried a backend that was absent
            assert attempts.acquire(timeout=60)
        assert isinstance(relay.last_error, OSError)
        server = _unix_server(backend_path)
        server.settimeout(60)
        conn, _ = server.accept()
        with conn, server:
            conn.settimeout(60)
            received = b""
            while not received.endswith(b"\n"):
                chunk = conn.recv(100)
                assert chunk, "relay closed before forwarding"
                received += chunk
            assert received == b"early bytes\n"
            conn.sendall(b"reply\n")
            assert client.recv(100) == b"reply\n"
            conn.close()
            assert client.recv(100) == b"", "backend EOF reaches the client"
        client.close()
    finally:
        relay.close()
    assert not relay.listen_path.exists()


def test_relay_close_drops_waiting_clients(tmp_path):
    def refuse() -> socket.socket:
        raise ConnectionRefusedError("no agent")
    relay = tp.StreamRelay(tmp_path / "relay.sock", refuse, connect_deadline=600).start()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(60)
    client.connect(str(relay.listen_path))
    relay.close()
    try:
        assert client.recv(100) == b""          # accepted, then dropped
    except ConnectionResetError:
        pass                                    # closed before the accept: also not a hang
    client.close()
