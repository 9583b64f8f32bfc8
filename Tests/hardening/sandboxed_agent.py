"""The kata-agent as a process that fuzzed requests cannot turn against the host.

A fuzzer sends SetGuestDateTime, SetIPTables, UpdateInterface, AddSwap, OnlineCPUMem and
CreateContainer with arbitrary specs. Run as the host's root, they would set the host's clock,
rewrite its firewall and swap onto its disks. So the agent runs as `nobody` outside and as root
inside its own user namespace, with its own mount, network, UTS and IPC namespaces and a private
tmpfs on /run: every call runs its real code path, and whatever needs the host's privileges
fails with the errno a guest would report for a missing device or capability.

Not PID 1 of a pid namespace: PID 1 mode mounts /proc, /sys and /dev and powers off on exit,
which is the VM suite's subject, not this one's.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Optional

NOBODY = 65534
SCRATCH = "/tmp/kata-fuzz"


def sandbox_available() -> Optional[str]:
    """None when this machine can run the sandbox; otherwise why not."""
    if os.geteuid() != 0:
        return "the sandboxed agent runs as nobody through setpriv, which needs root"
    for tool in ("setpriv", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is missing"
    probe = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         "unshare", "--user", "--map-root-user", "--mount", "--net", "true"],
        capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"unprivileged user namespaces are not available: {probe.stderr.strip()}"
    return None


class SandboxedAgent:
    """One agent at a time in a fresh sandbox; `restart()` gives a new one after an exit."""

    def __init__(self, binary: str, log_level: str = "warn", deadline: float = 30.0):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="kata-fuzz-"))
        os.chown(self.dir, NOBODY, NOBODY)
        # A copy nobody can execute: the checkout may sit under a directory only root can enter.
        self.binary = str(self.dir / "kata-agent")
        shutil.copyfile(pathlib.Path(binary).resolve(), self.binary)
        os.chmod(self.binary, 0o755)
        self.socket = self.dir / "agent.sock"
        self.log_path = self.dir / "agent.log"
        self.log_level = log_level
        self.deadline = deadline
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    def start(self) -> None:
        if self.socket.exists():
            self.socket.unlink()
        # The mount point of the sandbox's private scratch tmpfs (generated paths point there).
        pathlib.Path(SCRATCH).mkdir(mode=0o1777, exist_ok=True)
        env = dict(os.environ, KATA_AGENT_SERVER_ADDR=f"unix://{self.socket}",
                   KATA_AGENT_LOG_LEVEL=os.environ.get("KATA_AGENT_LOG_LEVEL", self.log_level))
        # /run becomes a private tmpfs so the agent's run directories are its own; the scratch
        # tree under /tmp/kata-fuzz is where generated paths and symlinks point.
        script = ("mount -t tmpfs -o mode=0755 tmpfs /run && mount -t tmpfs tmpfs /tmp/kata-fuzz && "
                  "mkdir -p /tmp/kata-fuzz/dir && ln -sfn /tmp/kata-fuzz/loop /tmp/kata-fuzz/loop && "
                  "ln -sfn ../../../../../../.. /tmp/kata-fuzz/escape && "
                  f"exec {self.binary}")
        log = open(self.log_path, "ab")
        log.write(f"---- start {self.starts + 1} ----\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             "unshare", "--user", "--map-root-user", "--mount", "--net", "--uts", "--ipc",
             "--propagation", "private", "sh", "-c", script],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        self.starts += 1
        end = time.monotonic() + self.deadline
        # Polled: the socket appears when the agent binds it; nothing else announces readiness.
        while not self.socket.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode} before listening:\n{self.log_tail()}")
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"agent did not listen within {self.deadline}s:\n{self.log_tail()}")
            time.sleep(0.01)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exit_status(self) -> Optional[int]:
        """None while running; the exit code, or -signal, once it has ended."""
        return None if self.proc is None else self.proc.poll()

    def wait_exit(self, timeout: float) -> Optional[int]:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, size: int = 6000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def log_lines_matching(self, *needles: str) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if any(n in line for n in needles)]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
