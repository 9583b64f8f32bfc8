"""8. Boot: kernel start to agent ready vs a bare busybox /init on the same kernel and QEMU.

Runs the VM harness's Tests/e2e/bench_boot.py (interleaved boots, guest uptime from printk
stamps) with the release binaries, and turns its JSON into figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchlib import Figure, Series, Skipped

BARE = "bare busybox /init (uptime)"
TARGET_RATIO = 1.05


def run(ctx) -> list:
    script = os.path.join(ctx["root"], "Tests", "e2e", "bench_boot.py")
    for need in (ctx["agent"], ctx["agent_ctl"], ctx["osbuilder"]):
        if not os.path.isfile(need):
            return [Skipped("boot", "Boot to agent ready", f"missing {need}")]
    out = os.path.join(ctx["cache"], "boot.json")
    runs = 3 if ctx["quick"] else 5
    env = dict(os.environ, KATA_AGENT_BIN=ctx["agent"], KATA_AGENT_CTL_BIN=ctx["agent_ctl"],
               OSBUILDER_BIN=ctx["osbuilder"])
    cmd = [sys.executable, script, "--runs", str(runs), "--json", out]
    if os.path.exists(out):
        os.unlink(out)
    proc = subprocess.run(cmd, env=env, timeout=3600)
    if not os.path.exists(out):
        return [Skipped("boot", "Boot to agent ready", f"bench_boot.py exited {proc.returncode} without results")]
    with open(out) as f:
        data = json.load(f)
    # A configuration that failed to boot is reported; the others are still figures.
    failed = [Skipped(f"boot-{name.split()[0]}", f"Boot: {name}", f"failed: {error}")
              for name, error in (data.get("errors") or {}).items()]
    results = data["results"]
    if BARE not in results:
        return failed or [Skipped("boot", "Boot to agent ready", "no bare-init baseline in bench_boot.py output")]

    def series(name: str, label: str) -> Series:
        return Series(label, "s", [s["ready_s"] for s in results[name]["samples"]])

    bare = series(BARE, "bare busybox /init")
    figures = []
    phases = [("bare /init runs", bare.median)]
    for name, rows in results.items():
        if name == BARE:
            continue
        fig = Figure(f"boot-{name.split()[0]}", f"Boot: {name} ({data['accel']})",
                     series(name, name), bare, target=f"<= {TARGET_RATIO} x bare init",
                     note=f"kernel {data['kernel']}, -smp 1",
                     command=f"make bench-boot BOOT_RUNS={runs}")
        fig.met = fig.ratio is not None and fig.ratio <= TARGET_RATIO
        figures.append(fig)
        phases.append((name, fig.ours.median))
    rss = data.get("rss") or {}
    for key, value in rss.items():
        figures.append(Figure(f"guest-{key}", f"Agent RSS in the guest, {key.replace('_', ' ')}",
                              Series("kata-agent (VmRSS)", "KiB", [float(value)]),
                              command=f"make bench-boot BOOT_RUNS={runs}"))
    ctx["boot_phases"].extend(sorted(phases, key=lambda p: p[1]))
    return figures + failed
