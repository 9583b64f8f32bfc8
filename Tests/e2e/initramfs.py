"""Hand-made busybox initrds: a bare /init for the harness's own checks and benchmarks, and a
module-loading first stage that mounts an image's root partition and hands over to its init.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import stat
import subprocess
import tempfile

from kernel import Kernel

BUSYBOX = os.environ.get("BUSYBOX", "/bin/busybox")


def pack(staging: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    """newc cpio of `staging`, owned by root, gzip (the only compression Kata kernels enable)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    names = subprocess.run(
        "find . -mindepth 1 | LC_ALL=C sort", shell=True, cwd=staging, check=True,
        capture_output=True).stdout
    cpio = subprocess.run(
        ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=staging, input=names,
        check=True, capture_output=True).stdout
    with open(out, "wb") as fh:
        subprocess.run(["gzip", "-n", "-6"], input=cpio, stdout=fh, check=True)
    return out


def _base(staging: pathlib.Path) -> None:
    for d in ("bin", "sbin", "dev", "proc", "sys", "run", "tmp", "root", "newroot", "etc"):
        (staging / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, staging / "bin" / "busybox")
    (staging / "bin" / "sh").symlink_to("busybox")
    # The kernel opens /dev/console for init's stdio before anything mounts devtmpfs.
    os.mknod(staging / "dev" / "console", 0o600 | stat.S_IFCHR, os.makedev(5, 1))


def _add_modules(staging: pathlib.Path, kernel: Kernel, modules: list[str]) -> list[str]:
    order = kernel.load_order(modules)
    dest = staging / "lib" / "modules"
    dest.mkdir(parents=True, exist_ok=True)
    for name in order:
        shutil.copy2(kernel.module_path(name), dest / kernel.module_path(name).name)
    return [kernel.module_path(name).name for name in order]


def busybox_init(out: pathlib.Path, script: str, kernel: Kernel | None = None,
                 modules: tuple[str, ...] = ()) -> pathlib.Path:
    """An initrd whose /init is `script` run by busybox sh; `modules` are copied to
    /lib/modules/<file>.ko and listed, load order, in /lib/modules/order."""
    with tempfile.TemporaryDirectory(prefix="initrd-") as tmp:
        staging = pathlib.Path(tmp)
        _base(staging)
        if modules:
            assert kernel is not None
            files = _add_modules(staging, kernel, list(modules))
            (staging / "lib" / "modules" / "order").write_text("\n".join(files) + "\n")
        init = staging / "init"
        init.write_text("#!/bin/busybox sh\n" + script)
        init.chmod(0o755)
        return pack(staging, out)


# Prints the guest uptime once /init runs, then powers off: the floor any init is measured against.
UPTIME_SCRIPT = """\
/bin/busybox mount -t proc proc /proc
echo "INIT-UPTIME $(/bin/busybox cut -d' ' -f1 /proc/uptime)"
/bin/busybox poweroff -f
"""

# Loads the listed modules, then runs the rest of the script.
LOAD_MODULES = """\
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
for m in $($bb cat /lib/modules/order); do
    $bb insmod /lib/modules/$m || echo "MODLOAD-FAILED $m"
done
"""

# A first stage for disk images: load modules, wait for root= (deadline 30 s), mount it with
# rootfstype/rootflags/ro, move /dev /proc /sys, switch_root to init= (default /sbin/init).
MODLOADER_SCRIPT = LOAD_MODULES + """\
root=; fstype=ext4; flags=; mode=rw; init=/sbin/init
for arg in $($bb cat /proc/cmdline); do
    case "$arg" in
        root=*) root=${arg#root=} ;;
        rootfstype=*) fstype=${arg#rootfstype=} ;;
        rootflags=*) flags=${arg#rootflags=} ;;
        ro) mode=ro ;;
        rw) mode=rw ;;
        init=*) init=${arg#init=} ;;
    esac
done
[ -n "$root" ] || { echo "MODLOADER: no root= on the command line"; $bb poweroff -f; }
i=0
while [ ! -b "$root" ]; do
    i=$((i+1))
    [ $i -le 300 ] || { echo "MODLOADER: $root did not appear within 30s"; $bb ls /dev; $bb poweroff -f; }
    $bb usleep 100000
done
$bb mount -t "$fstype" -o "$mode${flags:+,$flags}" "$root" /newroot || { echo "MODLOADER: mount $root failed"; $bb poweroff -f; }
$bb grep " /newroot " /proc/mounts | $bb sed 's/^/MODLOADER-MOUNTED /'
# The next init mounts its own /proc, /sys and /dev; open fds (the console) survive.
$bb umount /sys /proc /dev
exec $bb switch_root /newroot "$init"
"""


def modloader(out: pathlib.Path, kernel: Kernel, modules: list[str]) -> pathlib.Path:
    return busybox_init(out, MODLOADER_SCRIPT, kernel, tuple(modules))
