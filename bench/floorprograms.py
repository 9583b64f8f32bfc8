"""Reference programs for the agent's footprint: tiny static Swift programs linked as the agent is.

The toolchain's static Swift runtime, stdlib and FoundationEssentials are prebuilt archives
whose objects carry much of their code in one section each, so `--gc-sections` keeps most of
whatever it links at all. These programs show what that costs before any agent code: a
program that only prints, and one that encodes and decodes one message with SwiftProtobuf
(whose bytes fields are FoundationEssentials' Data), the library the agent's generated protocol
code needs. bench/suites/agent_binary.py reports them beside the agent.
"""

from __future__ import annotations

import glob
import gzip
import os
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TRIM_UNWIND = os.path.join(HERE, "..", "tools", "drop_swift_unwind.py")

# The archives Package.swift's `staticExecutable` links (keep the two lists alike).
STATIC_ARCHIVES = ["FoundationEssentials", "_FoundationCollections", "_FoundationCShims", "swiftSynchronization"]

# name, what it is, the package modules whose release objects it links.
PROGRAMS = [
    ("hello", "static Swift program that prints a line", []),
    ("protobuf", "static Swift program that round-trips one SwiftProtobuf message", ["SwiftProtobuf"]),
]


def build(name: str, modules: list[str], release_dir: str, out_dir: str) -> str:
    """Links bench/floor/<name>.swift like the agent (static, --gc-sections, gold's safe ICF)
    against the release objects of `modules`, then drops its Swift unwind records as the agent's
    are (tools/drop_swift_unwind.py); returns the unstripped binary's path."""
    out = os.path.join(out_dir, f"floor-{name}")
    linked = out + ".linked"
    command = ["swiftc", "-O", "-static-executable", os.path.join(HERE, "floor", f"{name}.swift"), "-o", linked,
               "-Xlinker", "--gc-sections", "-Xlinker", "--icf=safe"]
    for module in modules:
        objects = sorted(glob.glob(os.path.join(release_dir, f"{module}.build", "*.o")))
        if not objects:
            raise RuntimeError(f"no release objects of {module} in {release_dir} (make bench-build first)")
        command += ["-I", os.path.join(release_dir, "Modules")] + objects
    command += ["-Xlinker", "--start-group"]
    for archive in STATIC_ARCHIVES:
        command += ["-Xlinker", f"-l{archive}"]
    command += ["-Xlinker", "--end-group", "-Xlinker", "-lstdc++"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"building floor program {name} failed: {result.stderr.strip()[-2000:]}")
    trim = subprocess.run([sys.executable, TRIM_UNWIND, linked, "--out", out], capture_output=True, text=True, timeout=600)
    if trim.returncode != 0:
        raise RuntimeError(f"trimming floor program {name} failed: {trim.stderr.strip()}")
    return out


def sizes(binary: str) -> tuple[float, float]:
    """Stripped size and its gzip -9 size, in MB."""
    stripped = binary + ".stripped"
    subprocess.run(["strip", "-o", stripped, binary], check=True)
    with open(stripped, "rb") as f:
        data = f.read()
    return len(data) / 1e6, len(gzip.compress(data, 9)) / 1e6


def idle_rss_kib(binary: str, deadline: float = 30.0) -> tuple[int, int, int]:
    """VmRSS, RssAnon and RssFile (KiB) once the program has printed its ready line and waits."""
    proc = subprocess.Popen([binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + deadline
        line = b""
        while not line.endswith(b"\n"):
            remaining = end - time.monotonic()
            if remaining <= 0 or not select.select([proc.stdout], [], [], remaining)[0]:
                raise RuntimeError(f"{binary} printed no ready line within {deadline}s")
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                raise RuntimeError(f"{binary} exited with {proc.wait()} before its ready line")
            line += chunk
        fields = {}
        with open(f"/proc/{proc.pid}/status") as f:
            for entry in f:
                key, _, value = entry.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    fields[key] = int(value.split()[0])
        return fields["VmRSS"], fields["RssAnon"], fields["RssFile"]
    finally:
        proc.kill()
        proc.wait()
