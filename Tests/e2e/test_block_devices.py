"""Hot-plugged block devices in a guest, driven through QMP as a Kata runtime's QEMU does: a
virtio-blk disk device_add-ed onto a PCIe root port and used as a container rootfs by PCI path,
a virtio-scsi disk used by SCSI address, an NVDIMM volume, swap through AddSwap, GetVolumeStats
and an online ResizeVolume after block_resize, a `blk` device given to a container, and a
device that never appears (fails after agent.hotplug_timeout with nothing left behind).

One guest for the class; steps run in order, each reporting on its own.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

import agentclient as ac
import guests
import scenario as sc
from agentclient import agent_pb2 as pb, oci_pb2 as oci
from conftest import require_root
from qmp import QMP
from vm import BootSpec

import csi_pb2  # noqa: E402 - generated beside agent_pb2 by agentclient

# Root ports at fixed slots: a disk plugged into the port at slot S has PCI path "S/00".
ROOT_PORTS = {"rp1": 0x5, "rp2": 0x6, "rp3": 0x7, "rp4": 0x9}
SCSI_SLOT = 0x8
HOTPLUG_TIMEOUT = 10

# The Debian cloud kernel builds these as modules; the kata kernel builds them in.
DISK_MODULES = ["virtio_blk", "virtio_scsi", "sd_mod", "nd_pmem", "nfit", "ext4"]

SHARED = "/run/kata-containers/shared/containers"
VOLUMES = "/run/kata-containers/sandbox/storage"
ROOTFS_MARKER = "rootfs on a hot-plugged virtio-blk disk\n"


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def _ext4(path: pathlib.Path, size_mb: int, files: dict[str, str], busybox: bool = False) -> pathlib.Path:
    """An ext4 image populated from a directory (mke2fs -d): no mount needed on the host."""
    tree = pathlib.Path(tempfile.mkdtemp(prefix="kata-blk-tree-"))
    try:
        for name, text in files.items():
            (tree / name).write_text(text)
        if busybox:
            for d in ("bin", "proc", "sys", "dev", "tmp"):
                (tree / d).mkdir()
            shutil.copy2(guests.BUSYBOX, tree / "bin" / "busybox")
        with open(path, "wb") as image:
            image.truncate(size_mb << 20)
        _run("mkfs.ext4", "-q", "-F", "-d", str(tree), str(path))
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return path


def _with_libraries(binary: str) -> tuple:
    """(host path, guest path) pairs: a dynamic tool and the libraries ldd names, so the guest
    can run it (resize2fs for ResizeVolume)."""
    pairs = [(binary, binary)]
    for line in _run("ldd", binary).splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts and parts[0].startswith("/") else ""
        if path.startswith("/"):
            pairs.append((os.path.realpath(path), path))
    return tuple(pairs)


def _process(args: list[str]) -> oci.Process:
    return sc.process(args)


def _spec(container_id: str, root: str, args: list[str], mounts: list[oci.Mount] = (), devices=()) -> oci.Spec:
    spec = sc.container_spec(container_id, args, limits=False)
    spec.Root.Path = root
    # /proc/1 in the container is the agent (its mount table and root are what "nothing left
    # behind" is checked against).
    sc.in_agent_pid_namespace(spec)
    spec.Mounts.extend(mounts)
    spec.Linux.Devices.extend(devices)
    return spec


class Booted:
    def __init__(self, guest=None, client=None, qmp=None, images=None, error=None):
        self.guest, self.client, self.qmp, self.images, self.error = guest, client, qmp, images, error
        self.state: dict[str, object] = {}

    def ready(self) -> None:
        if self.error is not None:
            pytest.fail(f"the guest did not boot to a ready agent: {str(self.error).splitlines()[0]}", pytrace=False)

    def need(self, key: str) -> None:
        self.ready()
        if key not in self.state:
            pytest.fail(f"an earlier step did not complete: {key}")

    def call(self, rpc: str, request, timeout: float = 60):
        try:
            return self.client.call(rpc, request, timeout=timeout)
        except ac.RpcFailed as error:
            raise self.guest.fail(str(error)) from error

    def wait_init(self, container_id: str) -> None:
        """The init installs busybox's applet links, then prints a line: execs need the links."""
        seen = b""
        while b"\n" not in seen:
            reply = self.call("ReadStdout", pb.ReadStreamRequest(container_id=container_id, exec_id="", len=64))
            if not reply.data:
                break
            seen += reply.data
        assert seen == b"init-started\n", seen

    def run(self, container_id: str, exec_id: str, script: str) -> str:
        status, out, err = sc.run(self.client, container_id, exec_id, script)
        assert status == 0, f"{script!r} exited {status}: {out} {err}"
        return out


@pytest.fixture(scope="class")
def booted(kernel, tmp_path_factory):
    require_root("QEMU guests")
    workdir = tmp_path_factory.mktemp("block-devices")
    images = {
        "rootfs": _ext4(workdir / "rootfs.img", 64, {"hello": ROOTFS_MARKER}, busybox=True),
        "scsi": _ext4(workdir / "scsi.img", 64, {"marker": "scsi volume\n"}),
        "pmem": _ext4(workdir / "pmem.img", 32, {"marker": "nvdimm volume\n"}),
        "data": _ext4(workdir / "data.img", 16, {"marker": "blk device\n"}),
        "late": _ext4(workdir / "late.img", 16, {}),
        "swap": workdir / "swap.img",
    }
    with open(images["swap"], "wb") as f:
        f.truncate(32 << 20)
    _run("mkswap", str(images["swap"]))
    recipe = guests.GuestRecipe("busybox", extra_modules=tuple(kernel.loadable(DISK_MODULES)),
                                extra_files=_with_libraries(shutil.which("resize2fs") or "/usr/sbin/resize2fs"))
    initrd = guests.build(recipe, kernel)
    qmp_dir = pathlib.Path(tempfile.mkdtemp(prefix="qmp-", dir="/tmp"))
    qmp_socket = qmp_dir / "qmp.sock"
    extra = ["-qmp", f"unix:{qmp_socket},server=on,wait=off"]
    for name, slot in ROOT_PORTS.items():
        extra += ["-device", f"pcie-root-port,id={name},bus=pcie.0,chassis={slot},addr={slot:#x}"]
    extra += ["-device", f"virtio-scsi-pci,id=scsi0,bus=pcie.0,addr={SCSI_SLOT:#x}"]
    spec = guests.initrd_spec(kernel, initrd, "block-devices", f"agent.hotplug_timeout={HOTPLUG_TIMEOUT}")
    spec = BootSpec(**{**spec.__dict__, "nvdimm": images["pmem"], "extra_args": extra})
    guest = client = qmp = None
    try:
        guest, client, _ = guests.boot_agent(spec, workdir, "ttrpc")
        qmp = QMP(qmp_socket)
    except Exception as error:  # noqa: BLE001 - reported by every step
        if guest is not None:
            guest.kill()
        shutil.rmtree(qmp_dir, ignore_errors=True)
        yield Booted(error=error)
        return
    try:
        yield Booted(guest, client, qmp, images)
    finally:
        qmp.close()
        client.close()
        guest.kill()
        shutil.rmtree(qmp_dir, ignore_errors=True)


class TestBlockDevices:
    def test_01_boot(self, booted):
        if booted.error is not None:
            raise booted.error
        booted.call("CreateSandbox", pb.CreateSandboxRequest(hostname="blk", sandbox_id="blk-sandbox"))
        booted.state["sandbox"] = True

    def test_02_rootfs_on_hotplugged_virtio_blk_by_pci_path(self, booted):
        booted.need("sandbox")
        booted.qmp.add_raw_disk("rootdisk", booted.images["rootfs"])
        plugged = time.monotonic()
        booted.qmp.execute("device_add", driver="virtio-blk-pci", id="rootblk", drive="rootdisk", bus="rp1")
        root = f"{SHARED}/c1"
        storage = pb.Storage(driver="blk", source=f"{ROOT_PORTS['rp1']:02x}/00", fstype="ext4", mount_point=root)
        started = time.monotonic()
        booted.call("CreateContainer", pb.CreateContainerRequest(
            container_id="c1", exec_id="c1", storages=[storage], OCI=_spec("c1", root, [sc.BB, "sh", "-c", sc.INIT_SCRIPT])))
        done = time.monotonic()
        print(f"\nbench: CreateContainer with a hot-plugged virtio-blk rootfs: {1000 * (done - started):.0f} ms "
              f"({1000 * (done - plugged):.0f} ms from device_add)")
        booted.call("StartContainer", pb.StartContainerRequest(container_id="c1"))
        booted.wait_init("c1")
        out = booted.run("c1", "cat-hello", "cat /hello; grep -c ' / ' /proc/self/mountinfo")
        assert out.startswith(ROOTFS_MARKER), out
        mounts = booted.run("c1", "agent-mounts", "cat /proc/1/mountinfo")
        assert f" {root} " in mounts and " ext4 /dev/vd" in mounts, mounts
        booted.state["c1"] = True

    def test_03_scsi_and_nvdimm_volumes(self, booted):
        booted.need("c1")
        booted.qmp.add_raw_disk("scsidisk", booted.images["scsi"])
        booted.qmp.execute("device_add", driver="scsi-hd", id="scsihd", drive="scsidisk", bus="scsi0.0",
                           channel=0, **{"scsi-id": 1, "lun": 0})
        storages = [
            pb.Storage(driver="scsi", source="1:0", fstype="ext4", mount_point=f"{VOLUMES}/scsi-vol"),
            pb.Storage(driver="nvdimm", source="/dev/pmem0", fstype="ext4", options=["ro", "noload"],
                       mount_point=f"{VOLUMES}/pmem-vol"),
        ]
        mounts = [oci.Mount(destination="/scsi", source=f"{VOLUMES}/scsi-vol", type="bind", options=["rbind"]),
                  oci.Mount(destination="/pmem", source=f"{VOLUMES}/pmem-vol", type="bind", options=["rbind", "ro"])]
        booted.call("CreateContainer", pb.CreateContainerRequest(
            container_id="c2", exec_id="c2", storages=storages,
            OCI=_spec("c2", f"{SHARED}/c1", [sc.BB, "sleep", "100000"], mounts)))
        booted.call("StartContainer", pb.StartContainerRequest(container_id="c2"))
        assert booted.run("c2", "markers", "cat /scsi/marker /pmem/marker") == "scsi volume\nnvdimm volume\n"
        table = booted.run("c1", "agent-mounts-2", "cat /proc/1/mountinfo")
        assert f"{VOLUMES}/scsi-vol" in table and " ext4 /dev/sd" in table, table
        assert f"{VOLUMES}/pmem-vol" in table and "/dev/pmem0" in table, table
        booted.state["c2"] = True

    def test_04_volume_stats_and_online_resize(self, booted):
        booted.need("c2")
        path = f"{VOLUMES}/scsi-vol"

        def total_bytes() -> int:
            reply = booted.call("GetVolumeStats", pb.VolumeStatsRequest(volume_guest_path=path))
            usage = {u.unit: u for u in reply.usage}
            assert reply.volume_condition.abnormal is False
            return usage[csi_pb2.VolumeUsage.BYTES].total

        before = total_bytes()
        booted.qmp.execute("block_resize", **{"node-name": "scsidisk", "size": 128 << 20})
        booted.call("ResizeVolume", pb.ResizeVolumeRequest(volume_guest_path=path, size=0), timeout=120)
        after = total_bytes()
        assert before < 64 << 20 < after <= 128 << 20, (before, after)
        # The container sees the grown filesystem through its bind mount.
        df = booted.run("c2", "df", "df -k /scsi | tail -1")
        assert int(df.split()[1]) * 1024 > 64 << 20, df

    def test_05_swap_through_add_swap(self, booted):
        booted.need("c1")
        booted.qmp.add_raw_disk("swapdisk", booted.images["swap"])
        booted.qmp.execute("device_add", driver="virtio-blk-pci", id="swapblk", drive="swapdisk", bus="rp2")
        booted.call("AddSwap", pb.AddSwapRequest(PCIPath=[ROOT_PORTS["rp2"], 0]))
        swaps = booted.run("c1", "swaps", "cat /proc/swaps")
        assert "/dev/vd" in swaps and "partition" in swaps, swaps

    def test_06_blk_device_given_to_a_container(self, booted):
        booted.need("c1")
        booted.qmp.add_raw_disk("datadisk", booted.images["data"])
        booted.qmp.execute("device_add", driver="virtio-blk-pci", id="datablk", drive="datadisk", bus="rp4")
        # Host numbers (8:100) in the spec: the agent must give the container the guest's.
        device = oci.LinuxDevice(Path="/dev/xdb", Type="b", Major=8, Minor=100, FileMode=0o660)
        booted.call("CreateContainer", pb.CreateContainerRequest(
            container_id="c4", exec_id="c4",
            devices=[pb.Device(type="blk", id=f"{ROOT_PORTS['rp4']:02x}/00", vm_path="/dev/vdz", container_path="/dev/xdb")],
            OCI=_spec("c4", f"{SHARED}/c1", [sc.BB, "sleep", "100000"], devices=[device])))
        booted.call("StartContainer", pb.StartContainerRequest(container_id="c4"))
        out = booted.run("c4", "read-dev", "ls -l /dev/xdb; head -c 1024 /dev/xdb | wc -c")
        assert "254," in out or "253," in out, out       # virtio-blk's dynamic major, not 8
        assert out.strip().endswith("1024"), out

    def test_07_device_that_never_appears(self, booted):
        booted.need("c1")
        root = f"{SHARED}/c3"
        slot = ROOT_PORTS["rp3"]
        storage = pb.Storage(driver="blk", source=f"{slot:02x}/00", fstype="ext4", mount_point=root)
        started = time.monotonic()
        with pytest.raises(ac.RpcFailed) as failure:
            booted.client.call("CreateContainer", pb.CreateContainerRequest(
                container_id="c3", exec_id="c3", storages=[storage],
                OCI=_spec("c3", root, [sc.BB, "true"])), timeout=HOTPLUG_TIMEOUT + 30)
        waited = time.monotonic() - started
        message = str(failure.value)
        assert f"PCI path {slot:02x}/00" in message and "timeout" in message, message
        assert waited >= HOTPLUG_TIMEOUT - 1, waited
        table = booted.run("c1", "agent-mounts-3", "cat /proc/1/mountinfo; ls /proc/1/root" + SHARED)
        assert root not in table and "\nc3\n" not in table, table
        # Nothing held either: the same request succeeds once the disk is there.
        booted.qmp.add_raw_disk("latedisk", booted.images["late"])
        booted.qmp.execute("device_add", driver="virtio-blk-pci", id="lateblk", drive="latedisk", bus="rp3")
        booted.call("CreateContainer", pb.CreateContainerRequest(
            container_id="c3", exec_id="c3", storages=[storage],
            OCI=_spec("c3", f"{SHARED}/c1", [sc.BB, "true"])))
        table = booted.run("c1", "agent-mounts-4", "cat /proc/1/mountinfo")
        assert f" {root} " in table, table
