"""What the soak measures on the host, and how it puts the host back when a run fails.

The agent runs as an ordinary root process, so what it creates lands in this host's namespaces:
container bundles and rootfs mounts under /run/kata-containers, the sandbox's shared namespaces
under /run/sandbox-ns, cgroups under /sys/fs/cgroup (v1 controllers or v2, named after the
container id), helper files /run/kata-agent-command-*. Every id the soak uses carries its tag,
so "ours" is told apart from what other agents or tests on the machine create meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

CGROUP_ROOT = "/sys/fs/cgroup"
RUN_DIRS = ("/run/kata-containers", "/run/sandbox-ns")
# The agent's temporary files for guest commands (Sandbox/Devices/CommandRunner.swift).
RUN_PREFIXES = ("kata-agent-command-",)
# How deep the /run trees are listed: /run/kata-containers/<cid>/rootfs is three below /run.
RUN_DEPTH = 3
CGROUP_DEPTH = 3


def _proc_count(pid: int, what: str) -> int:
    return len(os.listdir(f"/proc/{pid}/{what}"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def mount_points(pid: int) -> list[str]:
    """Mount points of the agent's mount namespace (its /proc/PID/mountinfo), in table order."""
    points = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            parts = line.split(" ")
            if len(parts) > 4:
                # mountinfo escapes space, tab, newline and backslash as octal.
                points.append(parts[4].encode().decode("unicode_escape"))
    return points


def _walk(top: str, depth: int) -> set[str]:
    """Directories and files under `top`, at most `depth` levels down; symlinks are not followed."""
    found: set[str] = set()
    if not os.path.isdir(top):
        return found
    stack = [(top, 0)]
    while stack:
        directory, level = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # removed while we listed it, or not readable: not ours to judge
        for entry in entries:
            found.add(entry.path)
            if level + 1 < depth and entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, level + 1))
    return found


def cgroup_dirs() -> set[str]:
    dirs: set[str] = set()
    for path in _walk(CGROUP_ROOT, CGROUP_DEPTH):
        if os.path.isdir(path) and not os.path.islink(path):
            dirs.add(path)
    return dirs


def run_entries() -> set[str]:
    entries = {os.path.join("/run", name) for name in os.listdir("/run")}
    for top in RUN_DIRS:
        entries |= _walk(top, RUN_DEPTH)
    return entries


@dataclass
class Snapshot:
    """The agent's resources at one moment."""

    fds: int
    threads: int
    rss_kib: int
    mounts: list[str]
    cgroups: set[str] = field(default_factory=set)
    run: set[str] = field(default_factory=set)

    @classmethod
    def take(cls, pid: int) -> "Snapshot":
        return cls(fds=_proc_count(pid, "fd"), threads=_proc_count(pid, "task"), rss_kib=rss_kib(pid),
                   mounts=mount_points(pid), cgroups=cgroup_dirs(), run=run_entries())

    def figures(self, judge: "Judge") -> dict:
        return {"fds": self.fds, "threads": self.threads, "rss_kib": self.rss_kib,
                "mounts": len(judge.mounts(self)), "cgroup_dirs": len(judge.cgroups(self)),
                "run_entries": len(judge.run(self))}


class Judge:
    """Which mounts, cgroups and /run entries count as the agent's, and what a leak is.

    Ours: anything naming the soak's tag (container, exec and sandbox ids carry it), anything
    under the soak's work directory, the agent's run directories' mounts, and its command files.
    """

    RSS_SLACK_KIB = 1024

    def __init__(self, tag: str, workdir: str):
        self.tag = tag
        self.workdir = workdir.rstrip("/") + "/"

    def _ours(self, path: str) -> bool:
        return self.tag in path or path.startswith(self.workdir)

    def mounts(self, snap: Snapshot) -> list[str]:
        return [m for m in snap.mounts
                if self._ours(m) or any(m == d or m.startswith(d + "/") for d in RUN_DIRS)]

    def cgroups(self, snap: Snapshot) -> set[str]:
        return {c for c in snap.cgroups if self.tag in c}

    def run(self, snap: Snapshot) -> set[str]:
        return {r for r in snap.run
                if self._ours(r) or os.path.basename(r).startswith(RUN_PREFIXES)
                or any(r.startswith(d + "/") for d in RUN_DIRS)}

    def leaks(self, base: Snapshot, now: Snapshot) -> list[str]:
        """One line per resource not back to the baseline; empty when all are."""
        out = []
        # Fewer is not a leak: idle pool threads exit, the warm-up's last releases complete.
        if now.fds > base.fds:
            out.append(f"agent fds {base.fds} -> {now.fds}")
        if now.threads > base.threads:
            out.append(f"agent threads {base.threads} -> {now.threads}")
        if now.rss_kib - base.rss_kib > self.RSS_SLACK_KIB:
            out.append(f"agent RSS {base.rss_kib} -> {now.rss_kib} KiB (+{now.rss_kib - base.rss_kib}, "
                       f"allowed +{self.RSS_SLACK_KIB})")
        before, after = self.mounts(base), self.mounts(now)
        if sorted(before) != sorted(after):
            extra = sorted(set(after) - set(before)) or [f"{len(before)} -> {len(after)} entries"]
            out.append(f"mounts {len(before)} -> {len(after)}: {', '.join(extra[:5])}")
        for name, pick in (("cgroup dirs", self.cgroups), ("/run entries", self.run)):
            extra = sorted(pick(now) - pick(base))
            if extra:
                out.append(f"{name} +{len(extra)}: {', '.join(extra[:5])}")
        return out


def settle(pid: int, base: Snapshot, judge: Judge, deadline: float) -> tuple[Snapshot, list[str]]:
    """Polls until nothing leaks or the deadline passes: a removed container's pumps, threads and
    connections are let go asynchronously. RSS is not waited for (it need not shrink)."""
    end = time.monotonic() + deadline
    while True:
        now = Snapshot.take(pid)
        leaks = judge.leaks(base, now)
        if not leaks or time.monotonic() >= end:
            return now, leaks
        time.sleep(0.05)  # polling interval of a deadline-bound wait


# Set in the soak's environment; the agent inherits it, so a run killed before its clean-up
# still leaves an agent that can be found and killed.
TAG_ENV = "KATA_SOAK_TAG"


def tagged_processes(tag: str) -> list[int]:
    """Processes (other than this one) whose environment carries the soak's tag."""
    wanted = f"{TAG_ENV}={tag}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if wanted in f.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue  # exited meanwhile, or a kernel thread
    return found


def cleanup(tag: str, workdir: str, mounts_before: set[str]) -> list[str]:
    """Best-effort removal of whatever a failed run left: tagged processes (the agent), processes
    in our cgroups, our mounts (and new ones under /run/sandbox-ns), cgroup directories and /run
    entries. Returns what it did."""
    done = []
    for pid in tagged_processes(tag):
        try:
            os.kill(pid, signal.SIGKILL)
            done.append(f"killed tagged pid {pid}")
        except ProcessLookupError:
            pass
    cgroups = sorted((c for c in cgroup_dirs() if tag in c), key=len, reverse=True)
    # With cgroup v1 a process is in one directory per controller: kill each once.
    contained: dict[int, str] = {}
    for cg in cgroups:
        try:
            with open(os.path.join(cg, "cgroup.procs")) as f:
                for pid in f.read().split():
                    contained.setdefault(int(pid), cg)
        except OSError:
            continue
    for pid, cg in sorted(contained.items()):
        try:
            os.kill(pid, signal.SIGKILL)
            done.append(f"killed pid {pid} in {cg}")
        except ProcessLookupError:
            pass
    for cg in cgroups:
        # A cgroup empties once its killed processes are reaped; try for a few seconds.
        end = time.monotonic() + 5
        while True:
            try:
                os.rmdir(cg)
                done.append(f"removed cgroup {cg}")
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() >= end:
                    done.append(f"could not remove cgroup {cg}")
                    break
                time.sleep(0.05)  # polling interval of a deadline-bound wait
    ours = [m for m in mount_points(os.getpid())
            if m not in mounts_before and (tag in m or m.startswith(workdir) or m.startswith("/run/sandbox-ns/")
                                           or m.startswith("/run/kata-containers/"))]
    for m in reversed(ours):
        proc = subprocess.run(["umount", "-l", m], capture_output=True, text=True)
        done.append(f"unmounted {m}" if proc.returncode == 0 else f"umount {m}: {proc.stderr.strip()}")
        if proc.returncode == 0 and m.startswith("/run/sandbox-ns/") and not os.path.ismount(m):
            # The bind-mount target the agent created for its shared namespace.
            try:
                os.unlink(m)
            except OSError:
                pass
    for top in RUN_DIRS:
        for path in sorted(_walk(top, 1)):
            if tag in path:
                subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)
                done.append(f"removed {path}")
    return done


def leftovers(tag: str, ignore_pids: tuple[int, ...] = ()) -> list[str]:
    """What carries the tag on this host: the check that a run, passed or failed, cleaned up."""
    found = [f"process {pid}" for pid in tagged_processes(tag) if pid not in ignore_pids]
    found += [m for m in mount_points(os.getpid()) if tag in m]
    found += sorted(c for c in cgroup_dirs() if tag in c)
    found += sorted(r for r in run_entries() if tag in r)
    return found
