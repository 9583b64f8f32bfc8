"""A container in an osbuilder initrd guest cannot chroot its way out to the guest's root.

The kernel starts the agent on the initramfs ("rootfs"), which pivot_root refuses to move.
Containers used to be only chrooted there, and the classic escape (chroot into a subdirectory
while the working directory stays outside, walk "..", chroot ".") reached the guest's root with
the agent and everything else. The agent as PID 1 now moves the initramfs into a tmpfs first
(switch_root's job), so containers are pivoted and what lies beneath them is an empty rootfs.

The probe (probes/chroot_escape.c, built static here) lists the root it reached.
"""

from __future__ import annotations

import pathlib

import guests
import scenario as sc
from agentclient import agent_pb2 as pb, oci_pb2 as oci
from conftest import require_root

HERE = pathlib.Path(__file__).resolve().parent
PROBE_SOURCE = HERE / "probes" / "chroot_escape.c"
PROBE_IN_CONTAINER = "/bin/chroot-escape"


def test_chroot_escape_from_a_container_finds_no_guest_root(kernel, tmp_path):
    require_root("QEMU guests and initrd device nodes")
    probe = guests.static_probe(PROBE_SOURCE)
    recipe = guests.GuestRecipe("minimal", extra_files=((str(probe), guests.CONTAINER_ROOTFS + PROBE_IN_CONTAINER),))
    initrd = guests.build(recipe, kernel)
    guest, client, _ = guests.boot_agent(guests.initrd_spec(kernel, initrd, "escape"), tmp_path, "ttrpc")
    try:
        client.call("CreateSandbox", pb.CreateSandboxRequest(hostname="escape", sandbox_id="escape-sandbox"))
        cid = "escaper"
        spec = sc.container_spec(cid, [PROBE_IN_CONTAINER], limits=False)
        caps = ["CAP_SYS_CHROOT", "CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER"]
        spec.Process.Capabilities.CopyFrom(oci.LinuxCapabilities(Bounding=caps, Effective=caps, Permitted=caps))
        client.call("CreateContainer", pb.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec))
        client.call("StartContainer", pb.StartContainerRequest(container_id=cid))
        out = sc.read_all(client, "ReadStdout", cid, cid).decode(errors="replace")
        err = sc.read_all(client, "ReadStderr", cid, cid).decode(errors="replace")
        status = sc.wait(client, cid, cid)
        assert status == 0 and "DONE" in out, f"probe failed ({status}): {out}\n{err}\n{guest.console_tail()}"
        entries = set(out.split()) - {"DONE"}
        # The guest's root holds the agent (/sbin/init) and /opt/e2e (this container's rootfs),
        # which the container's own root (bin, dev, proc, sys, tmp) does not. A pivoted
        # container's ".." stops at its own root, the one holding the jail the probe made.
        leaked = entries & {"opt", "sbin", "init"}
        assert not leaked, f"the escape reached the guest's root: {sorted(entries)}"
        assert "escape-jail" in entries, f"the probe ended outside the container's root: {sorted(entries)}"
        assert "initramfs root moved into a tmpfs" in guest.console_text(), guest.console_tail()
    finally:
        guest.kill()
