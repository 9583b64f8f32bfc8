#!/usr/bin/env python3
"""Boot benchmark (`make bench-boot`, wired into `make bench`): kernel start to agent ready for
the minimal and busybox initrds and the virtio-blk image, next to a bare busybox /init that only
prints its uptime, on the same kernel, QEMU and machine, runs interleaved; plus the agent's RSS
in the guest after boot and after 20 containers.

"Kernel start" on the host clock is estimated from the console: a line stamped [t] by printk
cannot arrive before kernel start + t, so the earliest such bound is taken. For the bare /init
the guest's own uptime is printed too, which calibrates the estimate.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import agentclient as ac  # noqa: E402
import guests  # noqa: E402
import initramfs  # noqa: E402
import kernel as kernel_mod  # noqa: E402
import scenario as sc  # noqa: E402
from agentclient import agent_pb2 as pb  # noqa: E402
from vm import BootSpec, Guest  # noqa: E402


def boot_bare(kernel, initrd, workdir) -> dict:
    with Guest(BootSpec(kernel=kernel, initrd=initrd, agent_channel=False,
                        name="bare"), workdir) as guest:
        match = guest.wait_console(r"INIT-UPTIME (\d+\.\d+)\r?\n", timeout=180)
        arrival = [t for t, line in guest.console_lines() if "INIT-UPTIME" in line][0]
        guest.wait_exit(timeout=60)
        return {"ready_s": float(match.group(1)), "estimate_s": guest.uptime_at(arrival)}


def boot_agent(spec, workdir, rss: bool = False, containers: int = 0) -> dict:
    guest, client, ready = guests.boot_agent(spec, workdir, "grpcio")
    try:
        result = {"ready_s": guest.uptime_at(ready)}
        if rss:
            result.update(measure_rss(client, containers))
        return result
    finally:
        client.close()
        guest.kill()


def _rss_kib(client, exec_id: str) -> int:
    # The probe container shares the guest's pid namespace, so /proc/1 is the agent.
    status, out, err = sc.run(client, "probe", exec_id, "grep VmRSS /proc/1/status")
    if status != 0:
        raise RuntimeError(f"reading the agent's RSS failed ({status}): {err}")
    return int(out.split()[1])


def measure_rss(client, containers: int) -> dict:
    client.call("CreateSandbox", pb.CreateSandboxRequest(hostname="bench", sandbox_id="bench"))
    spec = sc.container_spec("probe", [sc.BB, "sh", "-c", sc.INIT_SCRIPT], limits=False)
    del spec.Linux.Namespaces[:]
    spec.Linux.Namespaces.extend([sc.oci.LinuxNamespace(Type="mount")])
    client.call("CreateContainer", pb.CreateContainerRequest(container_id="probe", exec_id="probe", OCI=spec))
    client.call("StartContainer", pb.StartContainerRequest(container_id="probe"))
    client.call("ReadStdout", pb.ReadStreamRequest(container_id="probe", exec_id="", len=64))
    after_boot = _rss_kib(client, "rss0")
    for i in range(containers):
        cid = f"c{i}"
        sc.create_container(client, cid, [sc.BB, "true"], limits=False)
        client.call("StartContainer", pb.StartContainerRequest(container_id=cid))
        sc.wait(client, cid, "")
        client.call("RemoveContainer", pb.RemoveContainerRequest(container_id=cid, timeout=30))
    after = _rss_kib(client, "rss1")
    return {"rss_after_boot_kib": after_boot, f"rss_after_{containers}_containers_kib": after}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--only", nargs="*", help="subset of: bare minimal busybox image")
    args = parser.parse_args()
    kernel = kernel_mod.fetch()
    work = pathlib.Path(tempfile.mkdtemp(prefix="kata-bench-boot-"))
    configs: dict[str, object] = {}
    wanted = set(args.only or ["bare", "minimal", "busybox", "image"])
    if "bare" in wanted:
        bare = initramfs.busybox_init(work / "bare.gz", initramfs.UPTIME_SCRIPT)
        configs["bare busybox /init (uptime)"] = lambda d: boot_bare(kernel, bare, d)
    if "minimal" in wanted:
        minimal = guests.build(guests.GuestRecipe("minimal"), kernel)
        configs["minimal initrd, agent ready"] = lambda d: boot_agent(
            guests.initrd_spec(kernel, minimal, "minimal", ""), d)
    if "busybox" in wanted:
        busybox = guests.build(guests.GuestRecipe("busybox"), kernel)
        configs["busybox initrd, agent ready"] = lambda d: boot_agent(
            guests.initrd_spec(kernel, busybox, "busybox", ""), d)
    if "image" in wanted:
        import test_agent_image as img
        configs["image (virtio-blk), agent ready"] = lambda d: boot_agent(img.image_spec(kernel, "virtio-blk"), d)
    samples: dict[str, list[dict]] = {name: [] for name in configs}
    errors: dict[str, str] = {}
    for run in range(args.runs):
        for name, boot in configs.items():
            if name in errors:
                continue
            d = work / f"{len(samples[name])}-{name.split()[0]}"
            try:
                samples[name].append(boot(d))
            except Exception as error:  # noqa: BLE001 - one broken config must not hide the others
                errors[name] = f"{type(error).__name__}: {error}"
                print(f"run {run + 1}/{args.runs} {name}: FAILED\n{errors[name]}", file=sys.stderr, flush=True)
                continue
            print(f"run {run + 1}/{args.runs} {name}: {samples[name][-1]}", flush=True)
    rss = None
    if "busybox" in wanted and "busybox initrd, agent ready" not in errors:
        try:
            measured = boot_agent(guests.initrd_spec(kernel, busybox, "busybox-rss", ""), work / "rss",
                                  rss=True, containers=20)
            rss = {k: v for k, v in measured.items() if k.startswith("rss_")}
        except Exception as error:  # noqa: BLE001
            errors["agent RSS"] = f"{type(error).__name__}: {error}"
            print(f"agent RSS: FAILED\n{errors['agent RSS']}", file=sys.stderr, flush=True)
    accel = "kvm" if __import__("vm").kvm_usable(str(kernel.vmlinuz)) else "tcg"
    report = {"kernel": kernel.version, "accel": accel, "runs": args.runs, "results": {}, "rss": rss,
              "errors": {k: v.splitlines()[0] for k, v in errors.items()}}
    print(f"\nkernel {kernel.version}, QEMU {accel}, -smp 1, median of {args.runs}")
    print(f"| {'boot':40} | median s | min s | max s |")
    print(f"|{'-' * 42}|----------|-------|-------|")
    for name, rows in samples.items():
        if not rows:
            print(f"| {name:40} |   FAILED: {report['errors'].get(name, '')[:60]}")
            continue
        values = [r["ready_s"] for r in rows]
        report["results"][name] = {"median_s": statistics.median(values), "min_s": min(values),
                                   "max_s": max(values), "samples": rows}
        print(f"| {name:40} | {statistics.median(values):8.2f} | {min(values):5.2f} | {max(values):5.2f} |")
        if name.startswith("bare"):
            estimates = [r["estimate_s"] for r in rows if r["estimate_s"] is not None]
            if estimates:
                print(f"|   (same, host-side estimate)             | {statistics.median(estimates):8.2f} |       |       |")
    if rss:
        print(f"\nagent RSS in the guest: {rss}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
