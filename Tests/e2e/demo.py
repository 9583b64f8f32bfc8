#!/usr/bin/env python3
"""`make demo`: boot the agent in a QEMU guest from an osbuilder busybox initrd, run a busybox
container that prints `uname -a` and its cgroups, show the output and the timings, then power
the guest off with DestroySandbox. Any failure: a message naming the step, the guest console
tail, exit status 1."""

from __future__ import annotations

import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import agentclient as ac  # noqa: E402
import guests  # noqa: E402
import kernel as kernel_mod  # noqa: E402
import scenario as sc  # noqa: E402
from agentclient import agent_pb2 as pb  # noqa: E402
from vm import GuestError  # noqa: E402

CID = "demo"


class Step:
    """Prints each step; a failure inside names the step and shows the guest console."""

    guest = None

    def __init__(self, title: str):
        self.title = title

    def __enter__(self):
        print(f"==> {self.title}", flush=True)
        self.started = time.monotonic()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return False
        print(f"\nmake demo FAILED at step: {self.title}\n  {exc_type.__name__}: {exc}", file=sys.stderr)
        if Step.guest is not None and not isinstance(exc, GuestError):
            print(Step.guest.console_tail(60), file=sys.stderr)
        if Step.guest is not None:
            Step.guest.kill()
        sys.exit(1)


def main() -> int:
    with Step("the guest kernel (kata: built from Debian's linux-source, cached; KATA_E2E_KERNEL=debian: "
              "Debian's cloud kernel)"):
        kernel = kernel_mod.fetch()
        print(f"    {kernel.flavour} {kernel.version} in {kernel.root}")
    with Step("build a busybox initrd with osbuilder (agent as init; virtio-serial and vsock modules "
              "only for a kernel that lacks them built in)"):
        initrd = guests.build(guests.GuestRecipe("busybox"), kernel)
        print(f"    {initrd} ({initrd.stat().st_size / 1e6:.1f} MB)")
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="kata-demo-"))
    with Step("boot it in QEMU and wait for the agent (Health.Check over ttrpc, as Kata runtimes speak)"):
        spec = guests.initrd_spec(kernel, initrd, "demo")
        spec.append = spec.append.replace("agent.log=debug", "agent.log=info")
        guest, client, ready = guests.boot_agent(spec, workdir, "ttrpc")
        Step.guest = guest
        boot_s = guest.uptime_at(ready) or float("nan")
        print(f"    accel={guest.accel}, console log {guest.console_log}")
    try:
        with Step("CreateSandbox"):
            client.call("CreateSandbox", pb.CreateSandboxRequest(hostname="demo", sandbox_id="demo"))
        with Step("run a busybox container: uname -a; cat /proc/self/cgroup"):
            t0 = time.monotonic()
            sc.create_container(client, CID, [sc.BB, "sh", "-c",
                                              "/bin/busybox uname -a; /bin/busybox cat /proc/self/cgroup"],
                                limits=False)
            client.call("StartContainer", pb.StartContainerRequest(container_id=CID))
            out = sc.read_all(client, "ReadStdout", CID, "")
            status = sc.wait(client, CID, "")
            run_s = time.monotonic() - t0
            err = sc.read_all(client, "ReadStderr", CID, "")
            if status != 0:
                raise RuntimeError(f"container exited with {status}; stderr: {err.decode(errors='replace')}")
        print("\n---- container output ----")
        print(out.decode(errors="replace").rstrip())
        print("--------------------------\n")
        with Step("RemoveContainer"):
            client.call("RemoveContainer", pb.RemoveContainerRequest(container_id=CID, timeout=30))
        with Step("DestroySandbox powers the guest off"):
            try:
                client.call("DestroySandbox", pb.DestroySandboxRequest(), timeout=30)
            except ac.RpcFailed:
                if guest.running:
                    raise
            client.close()
            code = guest.wait_exit(timeout=30)
            if code != 0:
                raise RuntimeError(f"QEMU exited with status {code}")
        print(f"timings ({guest.accel}):")
        print(f"    kernel start -> agent ready:   {boot_s:6.2f} s")
        print(f"    create + start + wait:         {run_s:6.2f} s")
        print("demo OK")
        return 0
    finally:
        client.close()
        guest.kill()


if __name__ == "__main__":
    sys.exit(main())
