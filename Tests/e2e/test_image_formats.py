"""osbuilder's image formats booted as the root disk over virtio-blk: ext4, xfs and erofs with
the agent as /sbin/init, and a dm-verity image (--verity) with the kernel parameters from its
root hash file; the same image with one flipped byte in the data of /sbin/init must not boot,
and the kernel must say why (dm-verity's corruption message).

On a kernel with the drivers built in (the kata kernel) the kernel mounts the root itself. On
Debian's cloud kernel, virtio_blk, xfs and erofs are modules, loaded by osbuilder's modloader
first stage; dm-mod is a module there too, so the kernel's dm-mod.create (dm-init, built-in
device-mapper only) cannot work and the verity boots are skipped with that reason."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import pytest

import agentclient
import cachelock
import guests
import kernel as kernel_mod
from agentclient import health_pb2
from conftest import require_root
from vm import BootSpec, Guest

FS_MODULES = {"ext4": [], "xfs": ["xfs"], "erofs": ["erofs"]}
MOUNTED = {
    "ext4": r"EXT4-fs \({dev}\): mounted filesystem",
    "xfs": r"XFS \({dev}\): Ending clean mount|XFS \({dev}\): Mounting V5 Filesystem",
    "erofs": r"erofs: \(device {dev}\): mounted",
}
ROOT_FLAGS = {
    "ext4": "rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4",
    "xfs": "ro rootfstype=xfs",
    "erofs": "ro rootfstype=erofs",
}
VERITY_CORRUPTION = r"device-mapper: verity: [0-9:]+: data block \d+ is corrupted"


def _builtin(kernel, name: str) -> bool:
    return kernel.is_builtin(name)


def _loadable(kernel, names: list[str]) -> list[str]:
    return [n for n in names if not _builtin(kernel, n)]


def _has_dm_init(kernel) -> bool:
    """dm-mod.create is parsed by dm-init, which exists only with device-mapper built in."""
    return _builtin(kernel, "dm_mod") and _builtin(kernel, "dm_verity")


def _osb(*args: str) -> str:
    return guests._run([str(guests.osbuilder_binary()), *args])


def build_images(kernel, workdir: pathlib.Path) -> dict[str, pathlib.Path]:
    """The busybox guest (agent as init, channel modules) as one image per type plus an ext4
    verity image; cached by the agent, osbuilder and kernel."""
    agent = guests.stripped(pathlib.Path(agentclient.agent_binary()))
    osb = guests.osbuilder_binary()
    modules = _loadable(kernel, guests.BOOT_MODULES)
    key = guests._digest(agent, osb, kernel.version, modules, "formats-1")
    out = guests.CACHE / f"formats-{key}"
    names = {t: out / f"{t}.img" for t in FS_MODULES} | {"verity": out / "verity.img"}
    with cachelock.held(guests.CACHE):
        return _build_images(kernel, names, out, agent, modules)


def _build_images(kernel, names: dict[str, pathlib.Path], out: pathlib.Path, agent: pathlib.Path,
                  modules: list[str]) -> dict[str, pathlib.Path]:
    if (out / ".complete").exists():
        return names
    out.mkdir(parents=True, exist_ok=True)
    rootfs = out / "rootfs"
    args = ["rootfs", "--templates", str(guests.REPO / "rootfs-templates"), "--template", "busybox",
            "--agent", str(agent), "--rootfs-dir", str(rootfs), "--force"]
    if modules:
        args += ["--kernel-modules-dir", str(kernel.modules_dir), "--modules", " ".join(modules)]
    log = [_osb(*args)]
    for fs in FS_MODULES:
        log.append(_osb("image", "--rootfs", str(rootfs), "-o", str(names[fs]), "--fs-type", fs, "--alignment-mb", "1"))
    log.append(_osb("image", "--rootfs", str(rootfs), "-o", str(names["verity"]), "--fs-type", "ext4", "--verity",
                    "--alignment-mb", "1"))
    subprocess.run(["rm", "-rf", str(rootfs)], check=True)
    (out / "build.log").write_text("\n".join(log))
    (out / ".complete").touch()
    return names


@pytest.fixture(scope="module")
def images(kernel, tmp_path_factory):
    require_root("QEMU guests")
    return build_images(kernel, tmp_path_factory.mktemp("formats"))


def disk_spec(kernel, image: pathlib.Path, fs: str, name: str, root: str = "/dev/vda1",
              params: str | None = None) -> BootSpec:
    """virtio-blk boot of `image`: the kernel mounts it when it can, else the modloader stage."""
    flags = params or f"root={root} {ROOT_FLAGS[fs]}"
    modules = _loadable(kernel, ["virtio_pci", "virtio_blk"] + FS_MODULES[fs])
    stage = guests.modloader(kernel, modules) if modules else None
    return BootSpec(kernel=kernel, initrd=stage, name=name, memory=guests.GUEST_MEMORY, disk=image,
                    append=guests.agent_append(f"{flags} rootwait init=/sbin/init"))


def boot_and_check(spec: BootSpec, tmp_path: pathlib.Path, mounted: str) -> None:
    guest, client, _ = guests.boot_agent(spec, tmp_path, "grpcio")
    try:
        guest.wait_console(mounted, timeout=5)
        assert client.call("Check", health_pb2.CheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        client.close()
        guest.kill()


@pytest.mark.parametrize("fs", list(FS_MODULES))
def test_image_type_boots_from_virtio_blk(kernel, images, tmp_path, fs):
    spec = disk_spec(kernel, images[fs], fs, f"image-{fs}")
    boot_and_check(spec, tmp_path, MOUNTED[fs].format(dev="vda1"))


def verity_params(image: pathlib.Path) -> str:
    """The kernel parameters osbuilder wrote beside the image (upstream's runtime format)."""
    text = pathlib.Path(str(image) + ".root_hash.txt").read_text()
    match = re.search(r"^kernel_params:\t(.*)$", text, re.MULTILINE)
    assert match, text
    return match.group(1)


def test_verity_image_boots_with_its_kernel_parameters(kernel, images, tmp_path):
    if not _has_dm_init(kernel):
        pytest.skip("dm-mod.create needs device-mapper and dm-verity built in (dm-init); "
                    f"{kernel.version} builds them as modules")
    params = verity_params(images["verity"])
    assert params.startswith('dm-mod.create="dm-verity,,,ro,0 ') and " root=/dev/dm-0 " in params
    spec = disk_spec(kernel, images["verity"], "ext4", "image-verity", params=params)
    boot_and_check(spec, tmp_path, MOUNTED["ext4"].format(dev="dm-0"))


def flip_byte_in_file(image: pathlib.Path, out: pathlib.Path, path: str) -> int:
    """Copy `image` to `out` with one byte of `path`'s first data block inverted; returns the
    image offset. The block is found with debugfs (no mount, no root)."""
    head = image.read_bytes()[:2 * 1024 * 1024 + 512]
    pfn = head[4096:4096 + 16] == b"NVDIMM_PFN_INFO\0"
    offset = (2 << 20 if pfn else 0) + (1 << 20)
    part = out.with_suffix(".p1")
    subprocess.run(["dd", f"if={image}", f"of={part}", "bs=1M", f"skip={offset >> 20}", "status=none"], check=True)
    stat = subprocess.run(["debugfs", "-R", f"bmap {path} 0", str(part)], capture_output=True, text=True, check=True)
    part.unlink()
    block = int(stat.stdout.strip().splitlines()[-1])
    target = offset + block * 4096 + 123
    subprocess.run(["cp", "--sparse=always", str(image), str(out)], check=True)
    with open(out, "r+b") as fh:
        fh.seek(target)
        byte = fh.read(1)
        fh.seek(target)
        fh.write(bytes([byte[0] ^ 0xFF]))
    return target


def test_verity_image_with_one_flipped_byte_does_not_boot(kernel, images, tmp_path):
    if not _has_dm_init(kernel):
        pytest.skip("dm-mod.create needs device-mapper and dm-verity built in (dm-init); "
                    f"{kernel.version} builds them as modules")
    params = verity_params(images["verity"])
    tampered = tmp_path / "tampered.img"
    flip_byte_in_file(images["verity"], tampered, "/sbin/init")
    spec = disk_spec(kernel, tampered, "ext4", "image-verity-tampered", params=params)
    guest = Guest(spec, tmp_path).start()
    try:
        # The root mounts (its metadata is intact), then reading /sbin/init fails verification:
        # the kernel names the block and cannot run init.
        guest.wait_console(MOUNTED["ext4"].format(dev="dm-0"), timeout=120)
        guest.wait_console(VERITY_CORRUPTION, timeout=60)
        guest.wait_console(r"Kernel panic|No working init found|Requested init /sbin/init failed", timeout=60)
        code = guest.wait_exit(timeout=60)
        assert code != 137, "guest hit its lifetime instead of stopping"
        assert "listening" not in guest.console_text(), "the agent must not have started"
    finally:
        guest.kill()
