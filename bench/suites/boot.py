"""8. Boot: kernel start to agent ready vs a bare busybox init on the same kernel and QEMU.

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

TARGET_RATIO = 1.05
# Medians bench_boot.py reads off the console, for the boot timeline plot.
MILESTONES = [("init_median_s", "kernel runs /init"), ("agent_start_median_s", "agent's first log line"),
              ("agent_listening_median_s", "agent listening")]
# 5 configurations x (runs + warm-up) boots of at most a few minutes each under TCG, plus the
# RSS boot with 20 containers; far more than a full run takes here (about 5 minutes).
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


def run(ctx) -> list:
    script = os.path.join(ctx["root"], "Tests", "e2e", "bench_boot.py")
    for need in (ctx["agent"], ctx["agent_ctl"], ctx["osbuilder"]):
        if not os.path.isfile(need):
            return [Skipped("boot", "Boot to agent ready", f"missing {need}")]
    out = os.path.join(ctx["cache"], "boot.json")
    runs = 3 if ctx["quick"] else 5
    env = dict(os.environ, KATA_AGENT_BIN=ctx["agent"], KATA_AGENT_CTL_BIN=ctx["agent_ctl"],
               OSBUILDER_BIN=ctx["osbuilder"])
    cmd = [sys.executable, script, "--runs", str(runs), "--warmup", "1", "--json", out]
    if os.path.exists(out):
        os.unlink(out)
    status = _run_script(cmd, env)
    if not os.path.exists(out):
        return [Skipped("boot", "Boot to agent ready", f"bench_boot.py exited {status} without results")]
    with open(out) as f:
        data = json.load(f)
    command = "bench/run.py --only boot" + (" --quick" if ctx["quick"] else "")
    # A configuration that failed to boot is reported; the others are still figures.
    failed = [Skipped(f"boot-{_slug(name)}", f"Boot: {name}", f"failed: {error}")
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
            failed.append(Skipped(f"boot-{_slug(name)}", f"Boot: {name}", f"its baseline ({baseline}) failed"))
            continue
        fig = Figure(f"boot-{_slug(name)}", f"Boot: {name} ({data['accel']})",
                     series(name, name), series(baseline, baseline),
                     target=f"<= {TARGET_RATIO} x bare init", command=command,
                     note=f"{setup}; reference: {baseline}; ready = first Health.Check answered (one "
                          f"pending wait_for_ready call), in guest uptime from printk stamps (error on the bare boots: "
                          f"{results[baseline].get('estimate_error_median_s', 0.0):+.2f} s)")
        fig.met = fig.ratio is not None and fig.ratio <= TARGET_RATIO
        figures.append(fig)
        # When the agent itself says it serves; the gap to "ready" is its first RPC's round trip
        # (bench_boot.wait_ready keeps a call pending, so no polling interval is in it).
        listening = [s["agent_listening_s"] for s in results[name]["samples"] if s.get("agent_listening_s") is not None]
        if listening:
            figures.append(Figure(
                f"boot-{_slug(name)}-listening", f"Boot: {name.split(',')[0]}, agent listening ({data['accel']})",
                Series(f"{name.split(',')[0]}: 'agent server listening' on the console", "s", listening),
                series(baseline, baseline), command=command,
                note=f"{setup}; the agent's own log line, in guest uptime from printk stamps"))
    rss = data.get("rss") or {}
    for key, value in rss.items():
        what = key.removeprefix("rss_").removesuffix("_kib").replace("_", " ")
        figures.append(Figure(f"guest-{key}", f"Agent RSS in the guest (VmRSS of PID 1), {what}",
                              Series("kata-agent (VmRSS)", "KiB", [float(value)]), command=command,
                              note=f"{setup}; busybox initrd; one boot"))
    ctx["boot_phases"].extend(sorted(phases, key=lambda p: p[1]))
    return figures + failed


def _slug(name: str) -> str:
    return "-".join(name.replace("(", "").replace(")", "").replace(",", "").split()[:3])
