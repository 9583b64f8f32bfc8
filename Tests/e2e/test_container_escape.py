"""A container in an osbuilder initrd guest cannot get out: not by chroot to the guest's root,
and not by connecting to any listener of the agent (vsock through loopback, abstract sockets).

The kernel starts the agent on the initramfs ("rootfs"), which pivot_root refuses to move.
Containers used to be only chrooted there, and the classic escape (chroot into a subdirectory
while the working directory stays outside, walk "..", chroot ".") reached the guest's root with
the agent and everything else. The agent as PID 1 now puts a bind mount of the initramfs over
"/" first (a root with a parent mount, which pivot_root accepts), so containers are pivoted.

The probe (probes/chroot_escape.c, built static here) lists the root it reached.

Our guest kernel has vsock loopback (the VM tests' in-guest clients need it on a host without
vhost-vsock), so a container could connect to CID 1 and reach the agent's API, its log stream
or the root debug console. The agent's vsock listeners serve only the host (CID 2) unless
agent.debug_vsock_loopback asks otherwise; probes/agent_reach.c tries them all from inside.
"""

from __future__ import annotations

import pathlib
import time

import guests
import scenario as sc
import agentclient as ac
from agentclient import agent_pb2 as pb, oci_pb2 as oci
from conftest import require_root

HERE = pathlib.Path(__file__).resolve().parent
PROBE_SOURCE = HERE / "probes" / "chroot_escape.c"
PROBE_IN_CONTAINER = "/bin/chroot-escape"
REACH_SOURCE = HERE / "probes" / "agent_reach.c"
REACH_IN_CONTAINER = "/bin/agent-reach"
CONSOLE_VPORT = guests.CONSOLE_VPORT


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
        assert "initramfs root bound over itself" in guest.console_text(), guest.console_tail()
    finally:
        guest.kill()


def test_no_agent_listener_is_reachable_from_a_container(kernel, tmp_path):
    """From a container: the debug console on vsock 1026 and every abstract socket are refused,
    and so is a second agent's API on vsock (its accept path is the production one); with the
    test-only KATA_AGENT_DEBUG_VSOCK_LOOPBACK the same API answers, so refusal is the policy."""
    require_root("QEMU guests and initrd device nodes")
    probe = guests.static_probe(REACH_SOURCE)
    agent = guests.stripped(pathlib.Path(ac.agent_binary()))
    recipe = guests.GuestRecipe("minimal", with_ctl=True, with_sh=True, extra_files=(
        (str(probe), guests.CONTAINER_ROOTFS + REACH_IN_CONTAINER),
        (str(agent), guests.CONTAINER_ROOTFS + "/bin/kata-agent")))
    initrd = guests.build(recipe, kernel)
    append = f"agent.debug_console agent.debug_console_vport={CONSOLE_VPORT}"
    guest, client, _ = guests.boot_agent(guests.initrd_spec(kernel, initrd, "reach", append), tmp_path, "ttrpc")
    try:
        client.call("CreateSandbox", pb.CreateSandboxRequest(hostname="reach", sandbox_id="reach-sandbox"))
        cid = "reacher"
        spec = sc.container_spec(cid, [sc.BB, "sleep", "100000"], limits=False)
        client.call("CreateContainer", pb.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec))
        client.call("StartContainer", pb.StartContainerRequest(container_id=cid))
        # Two agents as ordinary processes in the container, on vsock 2024 (default policy)
        # and 2025 (loopback allowed), each ready once its socket listens.
        sc.exec_process(client, cid, "agent-2024", [sc.BB, "env", "KATA_AGENT_SERVER_ADDR=vsock://-1:2024",
                                                    "/bin/kata-agent"])
        sc.exec_process(client, cid, "agent-2025", [sc.BB, "env", "KATA_AGENT_SERVER_ADDR=vsock://-1:2025",
                                                    "KATA_AGENT_DEBUG_VSOCK_LOOPBACK=1", "/bin/kata-agent"])
        ctl = f"/bin/{pathlib.Path(guests.GUEST_CTL).name}"

        def allowed_agent_answers():
            status, out, err = sc.run(client, cid, f"ctl-{time.monotonic_ns()}",
                                      [ctl, "--timeout", "5", "--server-addr", "vsock://1:2025", "call", "Check"])
            return (status, out) if status == 0 else None
        status, out = guest.wait_until("the loopback-allowed agent answering on vsock 2025",
                                       allowed_agent_answers, timeout=120, interval=1)
        assert "SERVING" in out, out

        status, out, err = sc.run(client, cid, "reach", [REACH_IN_CONTAINER, "1024", "1025", str(CONSOLE_VPORT), "2024"])
        assert status == 0 and "DONE" in out, f"probe failed ({status}): {out}\n{err}\n{guest.console_tail()}"
        reached = [line for line in out.splitlines() if line.endswith(" reached")]
        assert not reached, f"listeners reachable from a container: {reached}\n{out}"
        assert f"vsock 1:{CONSOLE_VPORT} refused" in out, out
        assert "vsock 1:2024 refused" in out, out
        assert "refused a vsock client that is not the host" in guest.console_text(), guest.console_tail()
    finally:
        guest.kill()
