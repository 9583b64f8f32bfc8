"""The guest kernel builder (osbuilder/kernel/build-kernel.sh) without booting anything: its
error lines, the fragment check, patches, and what the built kernel must be. The bit-for-bit
comparison of two full builds is `make kernel-repro` (opt-in: a second build of several
minutes); here the build's pinned identity is checked instead."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess

import pytest

import kernel as kernel_mod

SCRIPT = kernel_mod.BUILD_KERNEL
WORK_ROOT = kernel_mod.REPO / ".cache" / "kernel-build"


def run(*args: str, env: dict[str, str] | None = None, script: pathlib.Path = SCRIPT,
        timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_unavailable_version_fails_with_one_line_naming_the_available_ones():
    proc = run("-v", "5.10.25", "setup")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "5.10.25" in lines[0] and "available:" in lines[0], lines[0]
    available = run("versions").stdout.split()
    assert available, "apt offers no linux-source-X.Y"
    assert available[0] in lines[0]


def test_only_x86_64_is_supported():
    proc = run("-a", "aarch64", "setup")
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "build-kernel.sh: architecture aarch64 is not supported yet (only x86_64)"]


def _scratch_builder(tmp_path: pathlib.Path) -> pathlib.Path:
    """A copy of osbuilder/kernel whose fragments and patches a test may change."""
    copy = tmp_path / "osbuilder" / "kernel"
    shutil.copytree(SCRIPT.parent, copy)
    return copy / SCRIPT.name


PATCH_OK = """\
--- a/README
+++ b/README
@@ -1,3 +1,4 @@
+Patched by a kata-swift test.
"""


def _readme_patch(tree_readme: str) -> str:
    head = tree_readme.splitlines()[:3]
    return PATCH_OK + "".join(f" {line}\n" for line in head)


def test_dropped_option_fails_naming_it_and_patches_apply_in_order(tmp_path):
    script = _scratch_builder(tmp_path)
    frags = script.parent / "configs" / "fragments"
    (frags / "common" / "zz-test.conf").write_text(
        "# An option no kernel has, and one whose dependency (IOMMU_SUPPORT) the fragments\n"
        "# leave out.\nCONFIG_NOT_A_KERNEL_OPTION=y\nCONFIG_VIRTIO_IOMMU=y\n")
    pristine = sorted(WORK_ROOT.glob("pristine-linux-source-*"))
    series = run("versions").stdout.split()[0].rsplit(".", 1)[0]
    patches = script.parent / "patches" / series
    patches.mkdir(parents=True, exist_ok=True)
    readme = (pristine[0] / "README").read_text() if pristine else None
    if readme is None:
        pytest.skip("no pristine source yet (make kernel-build unpacks it)")
    (patches / "0001-readme.patch").write_text(_readme_patch(readme))
    tree = tmp_path / "tree"
    # The real work root, to reuse its pristine source instead of unpacking 1.3 GB again.
    proc = run("-k", str(tree), "setup", script=script, env={"KATA_KERNEL_WORKDIR": str(WORK_ROOT)})
    assert proc.returncode != 0, proc.stderr
    assert "CONFIG_NOT_A_KERNEL_OPTION (asked y in common/zz-test.conf" in proc.stderr, proc.stderr
    assert "CONFIG_VIRTIO_IOMMU (asked y in common/zz-test.conf" in proc.stderr, proc.stderr
    # The patch went into the work tree only; the shared pristine source is untouched.
    assert (tree / "README").read_text().startswith("Patched by a kata-swift test.\n")
    assert (pristine[0] / "README").read_text() == readme
    assert (tree / ".kata-patches").read_text().startswith("0001-readme.patch ")


def test_patch_that_does_not_apply_stops_setup(tmp_path):
    script = _scratch_builder(tmp_path)
    if not sorted(WORK_ROOT.glob("pristine-linux-source-*")):
        pytest.skip("no pristine source yet (make kernel-build unpacks it)")
    series = run("versions").stdout.split()[0].rsplit(".", 1)[0]
    patches = script.parent / "patches" / series
    patches.mkdir(parents=True, exist_ok=True)
    (patches / "0001-bogus.patch").write_text(
        "--- a/README\n+++ b/README\n@@ -1,2 +1,2 @@\n-no such line in the README\n+replacement\n context\n")
    tree = tmp_path / "tree"
    proc = run("-k", str(tree), "setup", script=script, env={"KATA_KERNEL_WORKDIR": str(WORK_ROOT)})
    assert proc.returncode != 0
    assert "patch 0001-bogus.patch does not apply" in proc.stderr, proc.stderr
    assert not tree.exists()


def test_built_kernel_is_pinned_and_has_the_guest_drivers_built_in():
    """The cached kata kernel (built if missing): the digest matches `key`, its identity is
    pinned (no date, user or host of the build machine), it has no module support, and every
    module the Debian kernel needs loaded for a guest is built in."""
    k = kernel_mod.fetch_kata()
    assert k.root.name == run("key").stdout.strip()
    vmlinux = (k.root / "vmlinux.container").resolve()
    banner = re.search(rb"Linux version [^\n\x00]+", vmlinux.read_bytes())
    assert banner, "no Linux version banner in vmlinux"
    text = banner.group(0).decode()
    assert "(kata@kata-swift)" in text and " #1 SMP" in text, text
    config = next(k.root.glob("config-*")).read_text()
    assert "CONFIG_MODULES=y" not in config
    assert "CONFIG_PVH=y" in config and "CONFIG_PRINTK_TIME=y" in config
    needed = (kernel_mod.VIRTIO_SERIAL_MODULES + kernel_mod.VSOCK_MODULES + kernel_mod.VIRTIO_BLK_MODULES
              + kernel_mod.NVDIMM_MODULES + ["loop", "overlay", "virtiofs", "virtio_net", "virtio_scsi"])
    missing = [m for m in needed if not k.is_builtin(m)]
    assert not missing, f"not built in: {missing}"
    assert k.loadable(needed) == []
