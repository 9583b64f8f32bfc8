"""8. Boot: kernel start to agent ready vs a bare busybox init on the same kernel and QEMU, on the
kata guest kernel (osbuilder/kernel, everything built in) and on Debian's cloud kernel (modules),
plus the kata kernel's size and build time next to the Debian kernel's.

Runs the VM harness's Tests/e2e/bench_boot.py (one warm-up round, then boots interleaved:
bare initrd, minimal, busybox, bare image, image; guest uptime from printk stamps) with the
binaries given to bench/run.py, and turns its JSON into figures. The script runs under a
deadline; every QEMU it starts also carries its own (vm.py's lifetime wrapper), so nothing
outlives a run that is cut short.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from benchlib import Figure, Series, Skipped

TARGET_RATIO = 1.10  # issue 13: kernel start to agent ready at most 1.10x a bare init
# Medians bench_boot.py reads off the console, for the boot timeline plot.
MILESTONES = [("init_median_s", "kernel runs /init"), ("agent_start_median_s", "agent's first log line"),
              ("agent_listening_median_s", "agent listening")]
# 5 configurations x (runs + warm-up) boots of at most a few minutes each under TCG, plus the
# RSS boot with 20 containers; far more than a full run takes here (about 5 minutes per kernel).
DEADLINE_S = 3600


def _run_script(cmd: list[str], env: dict[str, str]) -> int:
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        return proc.wait(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        print(f"bench boot: {DEADLINE_S}s deadline hit, stopping bench_boot.py", file=sys.stderr, flush=True)
        os.killpg(proc.pid, signal.SIGTERM)   # it kills its guests on SIGTERM
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait()
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        raise


# The kata kernel's figures keep the suite's keys; the Debian kernel's get a suffix.
KERNELS = [("kata", "", ""), ("debian", "-debian", " [Debian cloud kernel]")]


def run(ctx) -> list:
    figures: list = []
    data: dict[str, dict] = {}
    for flavour, suffix, label in KERNELS:
        got, data[flavour] = _run_kernel(ctx, flavour, suffix, label)
        figures += got
    return figures + _kernel_figures(ctx, data.get("kata"), data.get("debian"))


def _kernel_figures(ctx, kata: dict | None, debian: dict | None) -> list:
    """The kata kernel's vmlinux and bzImage next to the Debian kernel's vmlinuz (and the
    modules it ships), and how long the kata kernel took to build."""
    if not kata or kata.get("kernel_flavour") != "kata":
        return [Skipped("kernel-size", "Guest kernel size", "the kata kernel's boot run gave no results")]
    command = "make kernel-build; bench/run.py --only boot"
    files, deb_files = kata.get("kernel_files") or {}, (debian or {}).get("kernel_files") or {}
    mb = lambda n: [n / 1e6]  # noqa: E731
    out = []
    deb_ref = Series(f"Debian {debian['kernel']} vmlinuz", "MB", mb(deb_files["bzImage"])) if deb_files else None
    if "bzImage" in files:
        out.append(Figure("kernel-size-bzimage", "Guest kernel: compressed image (bzImage)",
                          Series(f"kata {kata['kernel']} bzImage", "MB", mb(files["bzImage"])), deb_ref,
                          command=command, note="the Debian kernel also ships "
                          f"{deb_files.get('modules', 0) / 1e6:.1f} MB of modules; a guest carries the ones it loads"))
    if "vmlinux" in files:
        out.append(Figure("kernel-size-vmlinux", "Guest kernel: uncompressed vmlinux (what QEMU boots, PVH)",
                          Series(f"kata {kata['kernel']} vmlinux", "MB", mb(files["vmlinux"])), command=command,
                          note="Debian ships no vmlinux for its cloud kernel"))
    build = kata.get("kernel_build") or {}
    seconds, cpu = build.get("BUILD_SECONDS", ""), build.get("BUILD_CPU_SECONDS", "")
    if seconds.isdigit() and build.get("BUILD_FROM_CLEAN_TREE") == "yes":
        out.append(Figure("kernel-build-time", "Guest kernel: build time from a clean tree (setup excluded)",
                          Series(f"make -j{build.get('BUILD_JOBS', '?')} vmlinux bzImage, wall", "s", [float(seconds)]),
                          command="make kernel-build",
                          note=f"{build.get('SOURCE_PACKAGE', '')}; measured when the cached kernel was built; "
                               f"{cpu} CPU seconds (make and compilers), so about {int(cpu) // 2 if cpu.isdigit() else '?'} s "
                               "of wall time on 2 idle cores; the wall time counts whatever else the machine ran"))
    elif seconds:
        out.append(Skipped("kernel-build-time", "Guest kernel: build time",
                           "the cached kernel was built incrementally; `rm -rf .cache/guest-kernel "
                           ".cache/kernel-build/linux-*` and rerun for a clean-tree figure"))
    return out


def _run_kernel(ctx, flavour: str, suffix: str, label: str) -> tuple[list, dict | None]:
    script = os.path.join(ctx["root"], "Tests", "e2e", "bench_boot.py")
    for need in (ctx["agent"], ctx["agent_ctl"], ctx["osbuilder"]):
        if not os.path.isfile(need):
            return [Skipped("boot" + suffix, "Boot to agent ready" + label, f"missing {need}")], None
    out = os.path.join(ctx["cache"], f"boot-{flavour}.json")
    runs = 3 if ctx["quick"] else 5
    env = dict(os.environ, KATA_AGENT_BIN=ctx["agent"], KATA_AGENT_CTL_BIN=ctx["agent_ctl"],
               OSBUILDER_BIN=ctx["osbuilder"], KATA_E2E_KERNEL=flavour)
    cmd = [sys.executable, script, "--runs", str(runs), "--warmup", "1", "--json", out]
    if flavour != "kata":
        cmd += ["--only", "minimal", "busybox", "image"]     # the guest RSS is the kata run's
    if os.path.exists(out):
        os.unlink(out)
    status = _run_script(cmd, env)
    if not os.path.exists(out):
        return [Skipped("boot" + suffix, "Boot to agent ready" + label,
                        f"bench_boot.py exited {status} without results")], None
    with open(out) as f:
        data = json.load(f)
    return _boot_figures(ctx, data, suffix, label), data


def _boot_figures(ctx, data: dict, suffix: str, label: str) -> list:
    command = "bench/run.py --only boot" + (" --quick" if ctx["quick"] else "")
    # A configuration that failed to boot is reported; the others are still figures.
    failed = [Skipped(f"boot-{_slug(name)}{suffix}", f"Boot: {name}{label}", f"failed: {error}")
              for name, error in (data.get("errors") or {}).items()]
    results = data["results"]
    setup = (f"kernel {data['kernel']}, QEMU {data['accel']} -smp 1, agent over "
             f"{data.get('transport', 'serial')}, {data.get('warmup', 1)} warm-up round")

    def series(name: str, label: str) -> Series:
        return Series(label, "s", [s["ready_s"] for s in results[name]["samples"]])

    figures = []
    phases = []
    for name, entry in results.items():
        short = name.split(",")[0].removesuffix(" (uptime)")
        for key, what in MILESTONES:
            if entry.get(key) is not None:
                phases.append((f"{short}: {what}", entry[key]))
        phases.append((f"{short}: {'agent ready' if entry.get('baseline') else 'uptime printed'}",
                       entry["median_s"]))
        baseline = entry.get("baseline")
        if baseline is None:
            continue
        if baseline not in results:
            failed.append(Skipped(f"boot-{_slug(name)}{suffix}", f"Boot: {name}{label}", f"its baseline ({baseline}) failed"))
            continue
        fig = Figure(f"boot-{_slug(name)}{suffix}", f"Boot: {name} ({data['accel']}){label}",
                     series(name, name), series(baseline, baseline),
                     target=f"<= {TARGET_RATIO} x bare init", command=command,
                     note=f"{setup}; reference: {baseline}; ready = first Health.Check answered over ttrpc "
                          f"(one pending call, as runtimes ask), in guest uptime from printk stamps (error on the bare boots: "
                          f"{results[baseline].get('estimate_error_median_s', 0.0):+.2f} s)")
        fig.met = fig.ratio is not None and fig.ratio <= TARGET_RATIO
        figures.append(fig)
        # When the agent itself says it serves; the gap to "ready" is its first RPC's round trip
        # (guests.ttrpc_ready keeps a call pending, so no polling interval is in it).
        listening = [s["agent_listening_s"] for s in results[name]["samples"] if s.get("agent_listening_s") is not None]
        if listening:
            figures.append(Figure(
                f"boot-{_slug(name)}-listening{suffix}", f"Boot: {name.split(',')[0]}, agent listening ({data['accel']}){label}",
                Series(f"{name.split(',')[0]}: 'agent server listening' on the console", "s", listening),
                series(baseline, baseline), command=command,
                note=f"{setup}; the agent's own log line, in guest uptime from printk stamps"))
    rss = data.get("rss") or {}
    for key, value in rss.items():
        if not key.startswith("rss_"):
            continue
        what = key.removeprefix("rss_").removesuffix("_kib").replace("_", " ")
        huge = rss.get("thp_" + key.removeprefix("rss_"))
        huge_note = "" if huge is None else f"; of which anonymous transparent huge pages: {huge} KiB"
        figures.append(Figure(f"guest-{key}{suffix}", f"Agent RSS in the guest (VmRSS of PID 1), {what}{label}",
                              Series("kata-agent (VmRSS)", "KiB", [float(value)]), command=command,
                              note=f"{setup}; busybox initrd; one boot{huge_note}"))
    image_memory = data.get("image_memory") or {}
    if "shmem_after_first_container_kib" in image_memory:
        figures.append(Figure(
            f"guest-image-first-container-memory{suffix}", f"Guest memory for the first container on an image guest{label}",
            Series("MemFree drop, CreateSandbox to the first container started", "KiB",
                   _boot_samples(image_memory, "memfree_drop_first_container_kib")),
            command=command,
            note=(f"{setup}; image over virtio-blk (agent binary on the read-only root, so container inits run "
                  f"from it, not from a sealed copy); Shmem after it: {image_memory['shmem_after_first_container_kib']:.0f} KiB; "
                  f"{_boots(image_memory)}")))
    initrd_memory = data.get("initrd_memory") or {}
    if "shmem_after_first_container_kib" in initrd_memory:
        growth = [after - before for after, before in zip(
            _boot_samples(initrd_memory, "shmem_after_first_container_kib"),
            _boot_samples(initrd_memory, "shmem_before_sandbox_kib"))]
        figures.append(Figure(
            f"guest-initrd-first-container-shmem{suffix}", f"Shared memory the first container adds on an initrd guest{label}",
            Series("Shmem growth, before CreateSandbox to the first container started", "KiB", growth),
            command=command,
            note=(f"{setup}; busybox initrd (container inits run from a read-only bind of the agent binary, "
                  f"not from a sealed copy, which would add the binary's size); MemFree drop from CreateSandbox: "
                  f"{initrd_memory['memfree_drop_first_container_kib']:.0f} KiB (median); {_boots(initrd_memory)}")))
    translations = data.get("translations") or {}
    if "bare" in translations and "agent" in translations:
        total = lambda side: [sum(translations[side].values()) / 1000]  # noqa: E731
        split = lambda side: f"{translations[side]['user']:,} in user space, {translations[side]['kernel']:,} in the kernel"  # noqa: E731
        figures.append(Figure(
            f"boot-translations{suffix}", f"Boot: code QEMU translated from /init's first instruction to ready ({data['accel']}){label}",
            Series("minimal initrd: the agent up to its first answered Check", "k instructions", total("agent")),
            Series("bare busybox /init up to its uptime line", "k instructions", total("bare")),
            command=command,
            note=(f"{setup}; one boot each with -d in_asm, instructions counted from the init program's entry "
                  f"point on; agent: {split('agent')}; bare init: {split('bare')}. Under TCG each block is "
                  "translated the first time it runs, which is most of the agent's start there; unlike the "
                  "times these counts hardly move with the host's load")))
    if not suffix:    # the boot timeline plot is the kata kernel's
        ctx["boot_phases"].extend(sorted(phases, key=lambda p: p[1]))
    return figures + failed


def _boot_samples(measured: dict, key: str) -> list[float]:
    """One value per boot of a first-container memory measurement (older results: one boot)."""
    return [float(boot[key]) for boot in measured.get("samples") or [measured]]


def _boots(measured: dict) -> str:
    count = len(measured.get("samples") or [measured])
    return "one boot" if count == 1 else f"{count} boots"


def _slug(name: str) -> str:
    return "-".join(name.replace("(", "").replace(")", "").replace(",", "").split()[:3])
