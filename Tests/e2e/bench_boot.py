#!/usr/bin/env python3
"""Boot benchmark (`make bench-boot`; `make bench` runs it through bench/suites/boot.py): kernel
start to agent ready for the minimal and busybox initrds and the virtio-blk image, each next to
a bare busybox init that only prints its uptime, booted the same way (same kernel, QEMU
command, memory and devices; for the image the same module-loading stage and disk), one
warm-up round then runs interleaved; plus the agent's RSS (VmRSS of PID 1) in the guest after
boot and after 20 containers, the guest memory the first container costs on an image guest,
and how much code QEMU translated from /init's first instruction to ready (measure_translations).

"Agent ready" is the host moment the first Health.Check over ttrpc (as Kata runtimes ask)
answers SERVING, turned into guest uptime through the printk stamp of the console line nearest
before it (Guest.uptime_at). The bare inits print the guest's own uptime; the same printk
estimate of that moment is recorded too (`estimate_s`), which shows the estimate's error on
this machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import re
import shutil
import signal
import statistics
import sys
import tempfile
from typing import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import agentclient  # noqa: E402
import diskimage  # noqa: E402
import guests  # noqa: E402
import initramfs  # noqa: E402
import kernel as kernel_mod  # noqa: E402
import scenario as sc  # noqa: E402
import tcglog  # noqa: E402
import vm  # noqa: E402
from agentclient import agent_pb2 as pb  # noqa: E402
from vm import BootSpec, Guest  # noqa: E402

BARE_INITRD = "bare busybox /init (uptime)"
BARE_IMAGE = "bare busybox /sbin/init, image (virtio-blk)"
MINIMAL = "minimal initrd, agent ready"
BUSYBOX = "busybox initrd, agent ready"
IMAGE = "image (virtio-blk), agent ready"
# Which bare boot each agent boot is compared with.
BASELINE = {MINIMAL: BARE_INITRD, BUSYBOX: BARE_INITRD, IMAGE: BARE_IMAGE}
# No boot here takes more than a few minutes even under TCG on a busy host; QEMU is killed
# by its own wrapper after this, whatever happens to this process.
GUEST_LIFETIME = 600.0
READY_TIMEOUT = 300.0


# Milestones read off the console, in guest uptime: the kernel's exec of the initrd's /init
# (after unpacking it: the initrd's size shows here), the agent's first log line, its listener.
RUN_INIT = re.compile(r"^\[\s*(\d+\.\d+)\] Run /init as init process")
AGENT_MILESTONES = {"agent_start_s": '"msg":"announce"', "agent_listening_s": '"msg":"agent server listening"'}


def milestones(guest: Guest) -> dict:
    found: dict[str, float | None] = {}
    lines = guest.console_lines()
    for _, line in lines:
        match = RUN_INIT.match(line)
        if match:
            found["init_s"] = float(match.group(1))
            break
    for key, needle in AGENT_MILESTONES.items():
        arrival = next((t for t, line in lines if needle in line), None)
        if arrival is not None:
            found[key] = guest.uptime_at(arrival)
    return found


def boot_bare(spec: BootSpec, workdir: pathlib.Path) -> dict:
    with Guest(spec, workdir) as guest:
        match = guest.wait_console(r"INIT-UPTIME (\d+\.\d+)\r?\n", timeout=READY_TIMEOUT)
        arrival = next(t for t, line in guest.console_lines() if "INIT-UPTIME" in line)
        guest.wait_exit(timeout=60)
        return {"ready_s": float(match.group(1)), "estimate_s": guest.uptime_at(arrival),
                **milestones(guest)}


def boot_agent(spec: BootSpec, workdir: pathlib.Path, containers: int | None = None) -> dict:
    with Guest(spec, workdir) as guest:
        client, ready = guests.ttrpc_ready(guest, READY_TIMEOUT)
        try:
            result = {"ready_s": guest.uptime_at(ready), **milestones(guest)}
            if containers is not None:
                result.update(measure_rss(client, containers))
            return result
        finally:
            client.close()


def _rss_kib(client, exec_id: str) -> tuple[int, int]:
    """VmRSS of the agent and, of that, its anonymous transparent huge pages (KiB). A 2 MiB huge
    page lands in a thread's stack or a malloc arena only when mmap happened to place it on a
    2 MiB boundary (the kata kernel's THP mode is `always`), so the RSS of one boot differs from
    the next's by 2 MiB steps; the second figure says which case a boot was."""
    # The probe container joins the guest's pid namespace, so /proc/1 is the agent.
    status, out, err = sc.run(client, "probe", exec_id,
                              "grep VmRSS /proc/1/status; grep AnonHugePages /proc/1/smaps_rollup")
    if status != 0:
        raise RuntimeError(f"reading the agent's RSS (exec {exec_id}) failed ({status}): {err}")
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["AnonHugePages"].split()[0])


def measure_rss(client, containers: int) -> dict:
    """VmRSS of the agent after boot (with the sandbox and the probe container that reads it)
    and after `containers` more containers were created, run and removed one by one."""
    client.call("CreateSandbox", pb.CreateSandboxRequest(hostname="bench", sandbox_id="bench"))
    spec = sc.container_spec("probe", [sc.BB, "sh", "-c", sc.INIT_SCRIPT], limits=False)
    sc.in_agent_pid_namespace(spec, others=("mount",))
    client.call("CreateContainer", pb.CreateContainerRequest(container_id="probe", exec_id="probe", OCI=spec))
    client.call("StartContainer", pb.StartContainerRequest(container_id="probe"))
    client.call("ReadStdout", pb.ReadStreamRequest(container_id="probe", exec_id="", len=64))
    after_boot, huge_after_boot = _rss_kib(client, "rss0")
    for i in range(containers):
        cid = f"c{i}"
        sc.create_container(client, cid, [sc.BB, "true"], limits=False)
        client.call("StartContainer", pb.StartContainerRequest(container_id=cid))
        sc.wait(client, cid, "")
        client.call("RemoveContainer", pb.RemoveContainerRequest(container_id=cid, timeout=30))
    after, huge_after = _rss_kib(client, "rss1")
    return {"rss_after_boot_kib": after_boot, f"rss_after_{containers}_containers_kib": after,
            "thp_after_boot_kib": huge_after_boot, f"thp_after_{containers}_containers_kib": huge_after}


def _meminfo_kib(client) -> dict[str, float]:
    """The guest's /proc/meminfo through GetMetrics (kata_guest_meminfo), in KiB by item."""
    text = client.call("GetMetrics", pb.GetMetricsRequest()).metrics
    found = re.findall(r'^kata_guest_meminfo\{item="([a-z_0-9]+)"\}\s+(\S+)', text, re.M)
    return {item: float(value) / 1024 for item, value in found}


def measure_image_memory(kernel, workdir: pathlib.Path) -> dict:
    """Guest memory the first container costs on an image guest (virtio-blk), whose agent
    binary lies on the read-only root: shared memory after it (a sealed copy of the agent
    would be shmem) and the drop in free memory, in KiB."""
    import test_agent_image as img
    spec = img.image_spec(kernel, "virtio-blk")    # already with guests.GUEST_MEMORY
    return measure_first_container_memory(spec, workdir)


def measure_initrd_memory(kernel, workdir: pathlib.Path) -> dict:
    """The same on a busybox initrd guest, whose agent binary is a read-only bind of the
    initramfs inode after the root switch (a sealed copy would show as shmem growth)."""
    initrd = guests.build(guests.GuestRecipe("busybox"), kernel)
    spec = guests.initrd_spec(kernel, initrd, "busybox-memory")
    spec.memory = guests.GUEST_MEMORY
    return measure_first_container_memory(spec, workdir)


# Boots per first-container memory figure: one boot's MemFree drop can be 2 MiB off when a
# transparent huge page happens to back a new mapping (see _rss_kib), so the median is reported.
MEMORY_BOOTS = 3


def measure_first_container_memory(spec: BootSpec, workdir: pathlib.Path) -> dict:
    """Shmem before CreateSandbox and after the first container started, and the drop in free
    memory from CreateSandbox to that container, in KiB: the median of MEMORY_BOOTS boots, each
    boot's own values under "samples"."""
    boots = [_first_container_memory(spec, workdir / f"boot{i}") for i in range(MEMORY_BOOTS)]
    out: dict = {key: statistics.median(boot[key] for boot in boots) for key in boots[0]}
    out["samples"] = boots
    return out


def _first_container_memory(spec: BootSpec, workdir: pathlib.Path) -> dict:
    spec.lifetime = GUEST_LIFETIME
    with Guest(spec, workdir) as guest:
        client, _ = guests.ttrpc_ready(guest, READY_TIMEOUT)
        try:
            idle = _meminfo_kib(client)
            client.call("CreateSandbox", pb.CreateSandboxRequest(hostname="bench", sandbox_id="bench"))
            before = _meminfo_kib(client)
            sc.create_on_read_only_guest(client, "first", [sc.BB, "sleep", "100000"])
            client.call("StartContainer", pb.StartContainerRequest(container_id="first"))
            after = _meminfo_kib(client)
            return {"shmem_before_sandbox_kib": idle["shmem"], "shmem_after_first_container_kib": after["shmem"],
                    "memfree_drop_first_container_kib": before["mem_free"] - after["mem_free"]}
        finally:
            client.close()


def measure_translations(kernel, workdir: pathlib.Path) -> dict:
    """Guest code QEMU translated from the init program's first instruction to the moment each
    boot is timed to (the bare init's uptime line; the agent's first answered Check), one boot
    each with `-d in_asm`: under TCG each block of code is translated the first time it runs,
    which is most of what an agent's start costs there. Unlike the boot times, these counts
    hardly move with the host's load: a start-up change shows in them boot by boot.
    {"bare": {"user": n, "kernel": n}, "agent": {...}}: instructions in user space (the init
    program and what it runs) and in the guest kernel (paths it is the first to take)."""
    workdir.mkdir(parents=True, exist_ok=True)
    bare = initramfs.busybox_init(workdir / "bare.gz", initramfs.UPTIME_SCRIPT)
    minimal = guests.build(guests.GuestRecipe("minimal"), kernel)
    out = {}
    for name, spec, program in (
            ("bare", BootSpec(kernel=kernel, initrd=bare, name="bare-translations"), initramfs.BUSYBOX),
            ("agent", guests.initrd_spec(kernel, minimal, "minimal-translations"), agentclient.agent_binary())):
        spec.memory = guests.GUEST_MEMORY
        spec.lifetime = GUEST_LIFETIME
        log = workdir / f"{name}-in_asm.log"
        spec.extra_args = ["-d", "in_asm", "-D", str(log)]
        with Guest(spec, workdir / name) as guest:
            if name == "bare":
                guest.wait_console(r"INIT-UPTIME (\d+\.\d+)\r?\n", timeout=READY_TIMEOUT)
            else:
                client, _ = guests.ttrpc_ready(guest, READY_TIMEOUT)
                client.close()
            # What QEMU logged up to that moment (it keeps logging until it is stopped).
            upto = log.stat().st_size
        out[name] = tcglog.translated_since_start(tcglog.blocks(log, upto), tcglog.Program(program))
        log.unlink()
    return out


def bare_image(kernel, work: pathlib.Path) -> pathlib.Path:
    """An ext4 image in osbuilder's layout whose /sbin/init only prints its uptime."""
    staging = work / "bare-image-root"
    for d in ("sbin", "bin", "proc", "dev", "sys"):
        (staging / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(initramfs.BUSYBOX, staging / "bin" / "busybox")
    init = staging / "sbin" / "init"
    init.write_text("#!/bin/busybox sh\n" + initramfs.UPTIME_SCRIPT)
    init.chmod(0o755)
    return diskimage.build(staging, work / "bare-image.raw", size_mib=64, dax=False)


def configs(kernel, work: pathlib.Path, wanted: set[str]) -> dict[str, Callable[[pathlib.Path], dict]]:
    """name -> one boot, in interleaving order (each baseline next to the boots it calibrates)."""
    import test_agent_image as img
    out: dict[str, Callable[[pathlib.Path], dict]] = {}

    def same_qemu(spec: BootSpec) -> BootSpec:
        spec.memory = guests.GUEST_MEMORY       # agent guests need it; bare ones get the same
        spec.lifetime = GUEST_LIFETIME
        return spec

    if wanted & {"bare", "minimal", "busybox"}:
        bare = initramfs.busybox_init(work / "bare.gz", initramfs.UPTIME_SCRIPT)
        # The agent channel stays on so QEMU has the same devices as the agent boots.
        out[BARE_INITRD] = lambda d: boot_bare(same_qemu(BootSpec(kernel=kernel, initrd=bare, name="bare")), d)
    if "minimal" in wanted:
        minimal = guests.build(guests.GuestRecipe("minimal"), kernel)
        out[MINIMAL] = lambda d: boot_agent(same_qemu(guests.initrd_spec(kernel, minimal, "minimal")), d)
    if "busybox" in wanted:
        busybox = guests.build(guests.GuestRecipe("busybox"), kernel)
        out[BUSYBOX] = lambda d: boot_agent(same_qemu(guests.initrd_spec(kernel, busybox, "busybox")), d)
    if "image" in wanted:
        agent_image = same_qemu(img.image_spec(kernel, "virtio-blk"))   # builds image and stage
        root = img.ROOTS["virtio-blk"] + (" rootwait" if kernel.builtin_drivers else "")
        bare_spec = dataclasses.replace(agent_image, name="bare-image", disk=bare_image(kernel, work),
                                        append=f"{root} init=/sbin/init")
        out[BARE_IMAGE] = lambda d: boot_bare(bare_spec, d)
        out[IMAGE] = lambda d: boot_agent(agent_image, d)
    return out


def _term(signum, _frame):
    # bench/suites/boot.py sends SIGTERM on its deadline: unwind so every Guest is killed.
    raise SystemExit(f"bench_boot: signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--rss-containers", type=int, default=20)
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--only", nargs="*", help="subset of: minimal busybox image rss image-memory initrd-memory translations")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _term)
    kernel = kernel_mod.fetch()
    work = pathlib.Path(tempfile.mkdtemp(prefix="kata-bench-boot-"))
    wanted = set(args.only or ["minimal", "busybox", "image", "rss", "image-memory", "initrd-memory",
                               "translations"])
    errors: dict[str, str] = {}
    samples: dict[str, list[dict]] = {}
    rss = None
    image_memory = None
    initrd_memory = None
    translations = None
    try:
        try:
            boots = configs(kernel, work, wanted)
        except Exception as error:  # noqa: BLE001 - reported in the JSON like a failed boot
            errors["building the guests"] = f"{type(error).__name__}: {error}"
            print(f"building the guests: FAILED\n{errors['building the guests']}", file=sys.stderr, flush=True)
            boots = {}
        samples = {name: [] for name in boots}
        rounds = [("warm-up", i) for i in range(args.warmup)] + [("run", i) for i in range(args.runs)]
        for phase, i in rounds:
            for name, boot in boots.items():
                if name in errors:
                    continue
                label = f"{phase} {i + 1}/{args.warmup if phase == 'warm-up' else args.runs} {name}"
                try:
                    result = boot(work / f"{phase}{i}-{name.split()[0]}")
                except Exception as error:  # noqa: BLE001 - one broken config must not hide the others
                    errors[name] = f"{type(error).__name__}: {error}"
                    print(f"{label}: FAILED\n{errors[name]}", file=sys.stderr, flush=True)
                    continue
                print(f"{label}: {result}", flush=True)
                if phase == "run":
                    samples[name].append(result)
        if "rss" in wanted and "building the guests" not in errors:
            try:
                busybox = guests.build(guests.GuestRecipe("busybox"), kernel)
                spec = guests.initrd_spec(kernel, busybox, "busybox-rss")
                spec.lifetime = GUEST_LIFETIME
                measured = boot_agent(spec, work / "rss", containers=args.rss_containers)
                rss = {k: v for k, v in measured.items() if k.startswith(("rss_", "thp_"))}
            except Exception as error:  # noqa: BLE001
                errors["agent RSS"] = f"{type(error).__name__}: {error}"
                print(f"agent RSS: FAILED\n{errors['agent RSS']}", file=sys.stderr, flush=True)
        def extra(key: str, measure) -> dict | None:
            """One measurement besides the timed boots, if wanted; a failure is reported."""
            if key not in wanted or "building the guests" in errors:
                return None
            what = key.replace("-", " ")
            try:
                return measure(kernel, work / key)
            except Exception as error:  # noqa: BLE001
                errors[what] = f"{type(error).__name__}: {error}"
                print(f"{what}: FAILED\n{errors[what]}", file=sys.stderr, flush=True)
                return None
        image_memory = extra("image-memory", measure_image_memory)
        initrd_memory = extra("initrd-memory", measure_initrd_memory)
        translations = extra("translations", measure_translations)
        if translations:
            print(f"instructions translated from /init's first to ready: {translations}", flush=True)
    finally:
        vm._kill_all_at_exit()
        shutil.rmtree(work, ignore_errors=True)
    report = summarize(kernel, args, samples, rss, errors)
    report["image_memory"] = image_memory
    report["initrd_memory"] = initrd_memory
    report["translations"] = translations
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if errors else 0


def summarize(kernel, args, samples: dict[str, list[dict]], rss, errors: dict[str, str]) -> dict:
    import transport
    accel = "kvm" if vm.kvm_usable(str(kernel.vmlinuz)) else "tcg"
    report = {"kernel": kernel.version, "kernel_flavour": kernel.flavour, "kernel_files": kernel.file_sizes(),
              "kernel_build": kernel.build_info, "accel": accel, "transport": transport.default_kind(),
              "runs": args.runs, "warmup": args.warmup, "results": {}, "rss": rss,
              "errors": {k: v.splitlines()[0] for k, v in errors.items()}}
    print(f"\nkernel {kernel.version} ({kernel.flavour}; {report['kernel_files']}), QEMU {accel}, -smp 1, agent over {report['transport']}, "
          f"{args.warmup} warm-up round(s), then {args.runs} interleaved")
    print(f"| {'boot':45} | median s | min s | max s | vs bare |")
    print(f"|{'-' * 47}|----------|-------|-------|---------|")
    for name, rows in samples.items():
        if not rows:
            print(f"| {name:45} | FAILED: {report['errors'].get(name, '')[:60]}")
            continue
        values = [r["ready_s"] for r in rows]
        entry = {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
                 "samples": rows, "baseline": BASELINE.get(name)}
        report["results"][name] = entry
        ratio = ""
        base = report["results"].get(BASELINE.get(name, ""))
        if base:
            ratio = f"{entry['median_s'] / base['median_s']:.2f}x"
        print(f"| {name:45} | {entry['median_s']:8.2f} | {entry['min_s']:5.2f} | {entry['max_s']:5.2f} | {ratio:>7} |")
        for key in ("init_s", *AGENT_MILESTONES):
            values = [r[key] for r in rows if r.get(key) is not None]
            if values:
                entry[f"{key.removesuffix('_s')}_median_s"] = statistics.median(values)
                print(f"|   {key.removesuffix('_s').replace('_', ' '):43} | {statistics.median(values):8.2f} |       |       |         |")
        estimates = [r["ready_s"] - r["estimate_s"] for r in rows if r.get("estimate_s") is not None]
        if estimates:
            entry["estimate_error_median_s"] = statistics.median(estimates)
            print(f"|   (own uptime minus printk estimate, median)   | {statistics.median(estimates):8.2f} |       |       |         |")
    if rss:
        print(f"\nagent RSS in the guest: {rss}")
    return report


if __name__ == "__main__":
    sys.exit(main())
