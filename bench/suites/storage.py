"""10. Pod storage: CreateContainer time with a virtio-fs rootfs and with a hot-plugged block
rootfs, in a guest, as the runtime sends them.

Runs the VM tests that replay those requests (Tests/e2e/test_pod_virtiofs.py: the Go runtime's
pod over Debian qemu's virtiofsd; Tests/e2e/test_block_devices.py: a virtio-blk disk
hot-plugged through QMP and given as the container's rootfs by PCI path) with the binaries
given to bench/run.py, several times, and reads the `bench:` lines they print. Each run boots
fresh guests (QEMU under TCG here, so the figures are guest-CPU bound).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from benchlib import Figure, Series, Skipped

# (key, title, the test file, the line's pattern giving milliseconds)
MEASURES = [
    ("create-virtiofs-pause", "CreateContainer, pause container with its rootfs on virtio-fs (guest)",
     "test_pod_virtiofs.py", re.compile(r"bench: CreateContainer \(pause\) with a virtio-fs rootfs: (\d+) ms")),
    ("create-virtiofs-app", "CreateContainer, k8s app on virtio-fs: 6 binds, a watchable-bind storage (guest)",
     "test_pod_virtiofs.py", re.compile(r"bench: CreateContainer \(app, [^)]*\): (\d+) ms")),
    ("create-hotplug-blk", "CreateContainer, rootfs on a hot-plugged virtio-blk disk by PCI path (guest)",
     "test_block_devices.py", re.compile(r"bench: CreateContainer with a hot-plugged virtio-blk rootfs: (\d+) ms")),
]
# Each run boots two guests and replays a pod; far more than a run takes here.
DEADLINE_S = 900


def run(ctx) -> list:
    for need in (ctx["agent"], ctx["agent_ctl"], ctx["osbuilder"]):
        if not os.path.isfile(need):
            return [Skipped("create-storage", "CreateContainer with pod storage", f"missing {need}")]
    if os.geteuid() != 0:
        return [Skipped("create-storage", "CreateContainer with pod storage", "needs root (QEMU guests)")]
    runs = 1 if ctx["quick"] else 3
    env = dict(os.environ, KATA_AGENT_BIN=ctx["agent"], KATA_AGENT_CTL_BIN=ctx["agent_ctl"],
               OSBUILDER_BIN=ctx["osbuilder"])
    e2e = os.path.join(ctx["root"], "Tests", "e2e")
    files = sorted({f for _, _, f, _ in MEASURES})
    samples: dict[str, list[float]] = {key: [] for key, _, _, _ in MEASURES}
    failures = []
    for _ in range(runs):
        cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"] + [os.path.join(e2e, f) for f in files]
        try:
            proc = subprocess.run(cmd, env=env, cwd=ctx["root"], capture_output=True, text=True, timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            failures.append(f"pytest ran over {DEADLINE_S} s")
            continue
        if proc.returncode != 0:
            failures.append(f"pytest exited {proc.returncode}: {proc.stdout.strip().splitlines()[-1:]}")
        for key, _, _, pattern in MEASURES:
            samples[key] += [float(m) for m in pattern.findall(proc.stdout)]
    out: list = []
    for key, title, test_file, _ in MEASURES:
        if not samples[key]:
            out.append(Skipped(key, title, "no figure: " + ("; ".join(failures) or "the test printed none")))
            continue
        note = f"one per run of Tests/e2e/{test_file}; release agent, QEMU TCG -smp 1"
        if failures:
            note += "; some runs failed: " + "; ".join(failures)
        out.append(Figure(key, title, Series("kata-agent in the guest", "ms", samples[key]), note=note,
                          command="bench/run.py --only storage"))
    return out
