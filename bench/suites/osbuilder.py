"""7. osbuilder: initrd and image sizes and build times.

Build times are interleaved with upstream's packing pipeline (`find . | cpio -H newc -o |
gzip -9`) on the same staged rootfs; sizes are set next to upstream's published figures
(alpine initrd about 15 MB, images 128-256 MB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from benchlib import Figure, Series, Skipped, interleave, timed

UPSTREAM_INITRD_MB = 15.0   # alpine initrd, REFERENCE.md section 7
UPSTREAM_IMAGE_MB = 128.0   # the smallest image upstream's 128 MiB alignment allows
SOURCE_DATE_EPOCH = "1700000000"


def _agent(ctx, work: str) -> str:
    stripped = os.path.join(work, "kata-agent")
    subprocess.run(["strip", "-o", stripped, ctx["agent"]], check=True)
    return stripped


def run(ctx) -> list:
    osb = ctx["osbuilder"]
    for need in (osb, ctx["agent"]):
        if not os.path.isfile(need):
            return [Skipped("osbuilder", "osbuilder sizes and times", f"missing {need}")]
    templates = os.path.join(ctx["root"], "rootfs-templates")
    env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)
    runs = 3 if ctx["quick"] else 5
    work = tempfile.mkdtemp(prefix="kata-bench-osb-")
    results = []
    try:
        agent = _agent(ctx, work)
        for template in ("minimal", "busybox"):
            rootfs = os.path.join(work, f"rootfs-{template}")
            subprocess.run([osb, "rootfs", "-q", "--templates", templates, "-t", template, "--agent", agent,
                            "--rootfs-dir", rootfs, "--force"], check=True, env=env)
            initrd = os.path.join(work, f"{template}.initrd")
            upstream = os.path.join(work, f"{template}.upstream.initrd")

            def ours():
                subprocess.run([osb, "initrd", "-q", "--rootfs", rootfs, "-o", initrd],
                               check=True, env=env)

            def theirs():
                with open(upstream, "wb") as out:
                    subprocess.run("find . | cpio --quiet -H newc -o | gzip -9", shell=True, cwd=rootfs,
                                   stdout=out, check=True)

            t_ours, t_ref = interleave(ours, theirs, runs)
            initrd_mb = os.path.getsize(initrd) / 1e6
            upstream_mb = os.path.getsize(upstream) / 1e6
            results.append(Figure(
                f"initrd-time-{template}", f"{template} initrd build time",
                Series("osbuilder initrd (gzip)", "ms", t_ours), Series("find|cpio|gzip -9", "ms", t_ref),
                note=f"same tree packed by cpio|gzip -9: {upstream_mb:.2f} MB",
                command=f"bench/run.py --only osbuilder"))
            fig = Figure(f"initrd-size-{template}", f"{template} initrd size (gzip)",
                         Series(f"osbuilder {template}", "MB", [initrd_mb]),
                         Series("upstream alpine initrd (published)", "MB", [UPSTREAM_INITRD_MB]),
                         command="bench/run.py --only osbuilder")
            if template == "minimal":
                fig.target, fig.met = "<= 6 MB", initrd_mb <= 6.0
            results.append(fig)

            image = os.path.join(work, f"{template}.img")
            small = os.path.join(work, f"{template}.small.img")
            t_image = []
            for _ in range(runs):
                t_image.append(timed(lambda: subprocess.run(
                    [osb, "image", "-q", "--rootfs", rootfs, "-o", image], check=True, env=env)))
            subprocess.run([osb, "image", "-q", "--rootfs", rootfs, "-o", small, "--alignment-mb", "1",
                            "--no-dax"], check=True, env=env)
            results.append(Figure(
                f"image-{template}", f"{template} image size (128 MiB alignment, DAX header)",
                Series(f"osbuilder {template}", "MB", [os.path.getsize(image) / 1e6]),
                Series("upstream minimum (published)", "MB", [UPSTREAM_IMAGE_MB]),
                note=f"--alignment-mb 1 --no-dax: {os.path.getsize(small) / 1e6:.1f} MB; "
                     f"build {sorted(t_image)[len(t_image) // 2]:.0f} ms median of {runs}",
                command="bench/run.py --only osbuilder"))
            results += _formats(osb, rootfs, template, work, env, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _formats(osb: str, rootfs: str, template: str, work: str, env: dict, runs: int) -> list:
    """xfs, erofs (plain and lz4hc) and a dm-verity ext4 image of the same tree, each timed
    against ext4 interleaved, smallest sizes (--alignment-mb 1 --no-dax) in the note."""
    def build(out: str, *extra: str) -> None:
        subprocess.run([osb, "image", "-q", "--rootfs", rootfs, "-o", out, "--alignment-mb", "1", "--no-dax", *extra],
                       check=True, env=env, stdout=subprocess.DEVNULL)

    ext4 = os.path.join(work, f"{template}.fmt-ext4.img")
    variants = [("xfs", ["--fs-type", "xfs"]), ("erofs", ["--fs-type", "erofs"]),
                ("erofs-lz4hc", ["--fs-type", "erofs", "--erofs-compression", "lz4hc"]),
                ("ext4-verity", ["--verity"]), ("erofs-verity", ["--fs-type", "erofs", "--verity"])]
    figures = []
    for name, extra in variants:
        out = os.path.join(work, f"{template}.fmt-{name}.img")
        try:
            t_ours, t_ext4 = interleave(lambda: build(out, *extra), lambda: build(ext4), runs)
        except (subprocess.CalledProcessError, OSError) as error:
            figures.append(Skipped(f"image-{name}-{template}", f"{template} {name} image", f"build failed: {error}"))
            continue
        size = os.path.getsize(out) / 1e6
        disk = os.stat(out).st_blocks * 512 / 1e6
        note = (f"--alignment-mb 1 --no-dax: {size:.1f} MB ({disk:.1f} MB allocated) vs ext4 "
                f"{os.path.getsize(ext4) / 1e6:.1f} MB")
        if name == "xfs":
            note += "; mkfs.xfs 6.1 refuses filesystems under 300 MB"
        figures.append(Figure(
            f"image-{name}-{template}", f"{template} {name} image build time (vs ext4, same tree)",
            Series(f"osbuilder {name}", "ms", t_ours), Series("osbuilder ext4", "ms", t_ext4),
            note=note, command="bench/run.py --only osbuilder"))
    return figures
