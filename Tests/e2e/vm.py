"""QEMU harness: boot a kernel + initrd (or disk image), console to a log, the agent's channel
over vsock or virtio-serial (transport.py chooses).

Every wait has a deadline, the guest is always killed (context manager, atexit), and a failure
raises GuestError carrying the tail of the console log so a failing boot never hangs a test and
always shows why. QEMU itself runs under `timeout -s KILL` with the guest's lifetime, so a
harness that is killed outright (no atexit) still leaves no guest behind for long.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Callable, Optional, TypeVar

import transport
from kernel import Kernel

QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
AGENT_PORT_NAME = transport.SERIAL_PORT_NAME
# Hard upper bound on any guest's life, enforced outside Python (see the module doc).
GUEST_LIFETIME = float(os.environ.get("KATA_E2E_GUEST_LIFETIME", "1800"))
T = TypeVar("T")

_live: set["Guest"] = set()


def _kill_all_at_exit() -> None:
    for guest in list(_live):
        guest.kill()


atexit.register(_kill_all_at_exit)


class GuestError(AssertionError):
    """A guest did not do what was expected before its deadline; carries the console log."""


@functools.lru_cache(maxsize=1)
def kvm_usable(kernel_path: Optional[str] = None) -> bool:
    """Probe KVM for real: /dev/kvm can exist while QEMU cannot run a vCPU on it (nested
    virtualisation without the MSRs QEMU needs). Boots the kernel with no root, which panics
    at once and exits through -no-reboot; only a clean exit with kernel output counts."""
    if os.environ.get("KATA_E2E_ACCEL") in ("tcg", "kvm"):
        return os.environ["KATA_E2E_ACCEL"] == "kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK) or kernel_path is None:
        return False
    try:
        proc = subprocess.run(
            [QEMU, "-accel", "kvm", "-cpu", "host", "-m", "256", "-smp", "1", "-nodefaults",
             "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
             "-kernel", kernel_path, "-append", "console=ttyS0 panic=-1 root=/dev/nonexistent"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return proc.returncode == 0 and b"Linux version" in proc.stdout


@dataclasses.dataclass
class BootSpec:
    """What to boot and how; `append` gets console=ttyS0 and panic=-1 prepended."""

    kernel: Kernel
    initrd: Optional[pathlib.Path] = None
    append: str = ""
    memory: str = "512M"
    disk: Optional[pathlib.Path] = None          # virtio-blk raw image
    nvdimm: Optional[pathlib.Path] = None        # emulated NVDIMM backed by this file
    agent_channel: bool = True                   # the agent's channel (see transport)
    transport: Optional[str] = None              # "vsock" | "serial"; None: the host's choice
    extra_args: list[str] = dataclasses.field(default_factory=list)
    name: str = "guest"
    lifetime: float = GUEST_LIFETIME             # seconds before QEMU is SIGKILLed regardless


class Guest:
    """One running QEMU guest. Use as a context manager; `kill()` is always safe."""

    def __init__(self, spec: BootSpec, workdir: Optional[pathlib.Path] = None):
        self.spec = spec
        self.workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix=f"kata-e2e-{spec.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        # AF_UNIX paths are limited to 108 bytes: keep the socket in a short private directory.
        self._sockdir = pathlib.Path(tempfile.mkdtemp(prefix="kvm-", dir="/tmp"))
        self.agent_socket = self._sockdir / "agent.sock"
        self.transport: Optional[transport.AgentTransport] = None
        if spec.agent_channel:
            kind = spec.transport or transport.default_kind()
            cid = transport.allocate_cid() if kind == "vsock" else None
            self.transport = transport.transport_for(kind, self.agent_socket, cid)
        self._relay: Optional[transport.StreamRelay] = None
        self.console_log = self.workdir / "console.log"
        self.qemu_log = self.workdir / "qemu.stderr"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.started_at = 0.0                     # host monotonic time QEMU was started
        self.accel = "tcg"
        self._console = bytearray()
        self._lines: list[tuple[float, str]] = []  # (host monotonic arrival, line)
        self._cond = threading.Condition()
        self._reader: Optional[threading.Thread] = None
        self._log_file = None

    # ---- lifecycle ----------------------------------------------------------------------
    def command(self) -> list[str]:
        spec = self.spec
        kvm = kvm_usable(str(spec.kernel.vmlinuz))
        self.accel = "kvm" if kvm else "tcg"
        machine = "q35,nvdimm=on" if spec.nvdimm else "q35"
        args = [
            QEMU, "-name", spec.name, "-machine", machine, "-accel", self.accel,
            "-cpu", "host" if kvm else "max", "-smp", "1", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-monitor", "none",
            "-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0",
            "-kernel", str(spec.kernel.vmlinuz),
            "-append", " ".join(filter(None, ["console=ttyS0 panic=-1", spec.append])),
            # An entropy source, as the Kata runtime gives every QEMU guest (entropy_source,
            # /dev/urandom by default): without it the CRNG of a TCG guest is ready only
            # seconds into the boot, and every getrandom() before that blocks (the Swift
            # runtime's hashing seed is one, before the agent's main).
            "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
        ]
        if spec.nvdimm:
            size = spec.nvdimm.stat().st_size
            args += ["-m", f"{spec.memory},slots=2,maxmem=4G",
                     "-object", f"memory-backend-file,id=mem0,share=on,mem-path={spec.nvdimm},"
                                f"size={size},readonly=on",
                     "-device", "nvdimm,id=nv0,memdev=mem0,unarmed=on"]
        else:
            args += ["-m", spec.memory]
        if spec.initrd:
            args += ["-initrd", str(spec.initrd)]
        if spec.disk:
            args += ["-drive", f"file={spec.disk},if=virtio,format=raw,readonly=on"]
        if self.transport is not None:
            args += list(self.transport.qemu_args)
        return args + spec.extra_args

    def start(self) -> "Guest":
        _live.add(self)
        try:
            self._start()
        except BaseException:
            self.kill()
            raise
        return self

    def _start(self) -> None:
        # The deadline wrapper: QEMU's exit status passes through; 137 means it was hit.
        args = ["timeout", "--signal=KILL", f"{self.spec.lifetime:.0f}"] + self.command()
        if self.transport is not None and self.transport.kind == "vsock":
            assert self.transport.vsock_cid is not None
            self._relay = transport.StreamRelay(
                self.agent_socket, transport.vsock_connector(self.transport.vsock_cid),
                connect_deadline=self.spec.lifetime).start()
        (self.workdir / "qemu.cmdline").write_text(" ".join(args) + "\n")
        self._log_file = open(self.console_log, "wb")
        with open(self.qemu_log, "wb") as stderr:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                start_new_session=True)
        self._reader = threading.Thread(target=self._read_console, daemon=True)
        self._reader.start()

    def __enter__(self) -> "Guest":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()

    def kill(self) -> None:
        """Kill QEMU (its whole process group) if it still runs; idempotent."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._relay is not None:
            self._relay.close()
        _live.discard(self)
        shutil.rmtree(self._sockdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ---- console ------------------------------------------------------------------------
    def _read_console(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        partial = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            now = time.monotonic()
            with self._cond:
                if chunk:
                    self._console += chunk
                    if self._log_file:
                        self._log_file.write(chunk)
                        self._log_file.flush()
                    partial += chunk
                    *complete, partial = partial.split(b"\n")
                    for raw in complete:
                        self._lines.append((now, raw.decode("utf-8", "replace").rstrip("\r")))
                else:
                    if partial:
                        self._lines.append((now, partial.decode("utf-8", "replace")))
                    if self._log_file:
                        self._log_file.close()
                        self._log_file = None
                self._cond.notify_all()
            if not chunk:
                return

    def console_text(self) -> str:
        with self._cond:
            return self._console.decode("utf-8", "replace")

    def console_lines(self) -> list[tuple[float, str]]:
        with self._cond:
            return list(self._lines)

    def console_tail(self, lines: int = 80) -> str:
        text = self.console_text().splitlines()[-lines:]
        qemu_err = self.qemu_log.read_text(errors="replace") if self.qemu_log.exists() else ""
        out = f"---- console of {self.spec.name} (last {len(text)} lines, full log {self.console_log}) ----\n"
        out += "\n".join(text)
        if qemu_err.strip():
            out += f"\n---- qemu stderr ----\n{qemu_err.strip()}"
        return out

    def fail(self, message: str) -> GuestError:
        return GuestError(f"{message}\n{self.console_tail()}")

    def type(self, text: str) -> None:
        """Send keystrokes to the serial console."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def wait_console(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        """Wait until the console text from offset `start` matches `pattern`."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                match = regex.search(self._console.decode("utf-8", "replace"), start)
                if match:
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if self.proc is not None and self.proc.poll() is not None and self._log_file is None:
                    raise self.fail(f"guest exited (status {self.proc.returncode}) before console "
                                    f"showed /{pattern}/")
                self._cond.wait(min(remaining, 0.5))
        raise self.fail(f"console did not show /{pattern}/ within {timeout:.0f}s")

    def console_offset(self) -> int:
        with self._cond:
            return len(self._console.decode("utf-8", "replace"))

    # ---- exit and timing ----------------------------------------------------------------
    def wait_exit(self, timeout: float) -> int:
        """Wait for QEMU to exit (the guest powered off; -no-reboot turns reboots into exits)."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.fail(f"guest did not power off within {timeout:.0f}s") from None
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def uptime_at(self, host_time: float) -> Optional[float]:
        """Guest seconds since kernel start at a host monotonic time, from the printk stamp of
        the last console line that arrived before it: its stamp plus the host time elapsed
        since. The nearest line keeps clock drift out (under TCG the printk clock and the host
        clock disagree by a few percent); lines stamped 0.0 predate the clock and are skipped."""
        best: Optional[tuple[float, float]] = None
        for arrival, line in self.console_lines():
            match = re.match(r"^\[\s*(\d+\.\d+)\]", line)
            if not match or float(match.group(1)) == 0.0:
                continue
            if arrival > host_time and best is not None:
                break
            best = (arrival, float(match.group(1)))
            if arrival > host_time:
                break
        if best is None:
            return None
        arrival, stamp = best
        return stamp + (host_time - arrival)

    def wait_until(self, what: str, probe: Callable[[], Optional[T]], timeout: float,
                   interval: float = 0.1) -> T:
        """Poll `probe` until it returns a value (not None); fails with the console on deadline
        or when the guest dies first. The interval only paces polling of an external event."""
        deadline = time.monotonic() + timeout
        last_error: Optional[BaseException] = None
        while True:
            try:
                value = probe()
                if value is not None:
                    return value
            except Exception as error:  # noqa: BLE001 - remembered for the failure message
                last_error = error
            if not self.running:
                raise self.fail(f"guest exited (status {self.proc.returncode if self.proc else '?'}) "
                                f"while waiting for {what} (last error: {last_error})")
            if time.monotonic() >= deadline:
                raise self.fail(f"{what} not reached within {timeout:.0f}s (last error: {last_error})")
            time.sleep(interval)

    def connect_agent_socket(self, timeout: float = 5) -> socket.socket:
        """A raw connection to the host end of the agent's channel (the virtio-serial chardev,
        or the relay to the guest's vsock port)."""
        def probe() -> Optional[socket.socket]:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.agent_socket))
            except OSError:
                sock.close()
                raise
            return sock
        return self.wait_until("agent socket", probe, timeout)
