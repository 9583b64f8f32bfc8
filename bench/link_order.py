#!/usr/bin/env python3
"""Writes kata-agent's link order (`make link-order`; run by hand, as root: it traces with uprobes).

The functions an agent start and its first RPCs execute are spread over the 18 MB of .text, so
the kernel's fault-around (it maps the 64 KiB around each faulting page) maps several times
what they touch. Listed first, in the order they first ran, they fill a few MiB of pages instead.

Each function of our own modules and of the dependencies SwiftPM builds gets a section of its
own in release builds (-function-sections, Makefile SWIFT_FLAGS_release); the prebuilt Swift
runtime, stdlib and Foundation archives have one per public function. libc.a has one `.text`
per object: release builds link a copy whose objects name theirs `.text.libc.<object>`
(bench/libc_sections.py), and a libc function is listed as its object's section. gold's
--section-ordering-file takes the section names; names that no longer exist (a renamed
function) are ignored by the linker, so a stale list costs locality, never correctness.

How the functions are found: a uprobe on the entry of every function of the binary, recorded in
a tracing instance of its own while the workload runs, lists every function the workload
entered, in the order it first did. (Sampling with perf, the first version, missed the short
ones: 2 MiB of pages around them stayed resident after one Check.) Functions whose first
instruction is EVEX-encoded (glibc's AVX-512 string functions) are not probed: the kernel steps
over a probed instruction out of line, and with a probe on __memset_avx512_unaligned_erms the
agent aborted in malloc ("unaligned tcache chunk detected").
The kernel checks each new probe against those already registered, so registering the 100,000
probes takes about five minutes; they share events of 500 probes each (one event per probe
would exhaust the 16-bit event ids, and each event waits for a grace period when disabled).

The workload: an agent start answered over ttrpc and one over gRPC, then a sandbox with one
container's life (create, start, a stdout read, wait, remove), so what a runtime's first calls
execute is clustered too.

Then the agent as PID 1 of a guest (the kata kernel under TCG, the minimal initrd): its start
up to the first answered Check, then a sandbox with containers and an exec (the steps of the
boot bench's RSS measurement). Its own paths (init mounts, the root switch, cgroups, the serial
transport) a host process never runs. QEMU logs every block it translates in the agent's text
range (-d in_asm -dfilter), which lists the functions the guest ran in the order it first ran
them; a block whose bytes differ from the agent's at that address is another program's (a
container's static busybox is linked at the same addresses) and is left out. Those the host
run did not enter are listed after the host's, so the host's start keeps its pages and the
guest's paths find theirs next to them.
"""

from __future__ import annotations

import argparse
import bisect
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "suites"))
sys.path.insert(0, os.path.join(ROOT, "Tests", "e2e"))

import libc_sections as libc_copy  # noqa: E402
import tcglog  # noqa: E402

HEADER = """\
# kata-agent link order for gold's --section-ordering-file, written by bench/link_order.py
# (make link-order): the functions an agent start and its first RPCs ran, in the order they
# first ran. Regenerate after large changes; a stale entry only costs locality.
"""


def workload(agent: str) -> None:
    """The traced runs: a start asked over each protocol, then one container's life."""
    from agentproc import AgentProcess, load_stubs
    from bundle import busybox_rootfs, runc_spec
    from containers import Agent, _new_id

    pb2, hpb2, oci, astub, hstub = load_stubs()
    for protocol in ("ttrpc", "grpc"):
        with AgentProcess(agent, hstub, hpb2) as proc:
            proc.start(protocol)
    work = tempfile.mkdtemp(prefix="kata-order-")
    try:
        bundle = os.path.join(work, "bundle")
        os.makedirs(bundle)
        shutil.copytree(busybox_rootfs(os.path.join(ROOT, "bench", "cache", "busybox")),
                        os.path.join(bundle, "rootfs"), symlinks=True)
        with AgentProcess(agent, hstub, hpb2) as proc:
            proc.start("ttrpc")
            client = Agent(pb2, astub, oci, proc.channel)
            client.create_sandbox(_new_id("sb"))
            spec = client.spec(runc_spec(bundle, ["sh", "-c", "echo hello"]))
            cid = _new_id("c")
            client.stub.CreateContainer(pb2.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec))
            client.stub.StartContainer(pb2.StartContainerRequest(container_id=cid))
            client.stub.ReadStdout(pb2.ReadStreamRequest(container_id=cid, exec_id=cid, len=32768))
            client.stub.WaitProcess(pb2.WaitProcessRequest(container_id=cid, exec_id=cid))
            client.stub.RemoveContainer(pb2.RemoveContainerRequest(container_id=cid, timeout=10))
            client.destroy_sandbox()
    finally:
        shutil.rmtree(work, ignore_errors=True)


TRACEFS = "/sys/kernel/tracing"
GROUP = "kata_link_order"
PROBES_PER_EVENT = 500
TRACE_LINE = re.compile(r"\s(\d+\.\d+): fn\d+: \((0x[0-9a-f]+)\)")


def function_symbols(binary: str) -> dict[int, list[str]]:
    """Entry address -> names of the binary's defined functions (identical code folding gives
    one address several names)."""
    symbols: dict[int, list[str]] = {}
    listing = subprocess.run(["readelf", "-sW", binary], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        fields = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(fields) >= 8 and fields[3] == "FUNC" and fields[2].isdigit() and int(fields[2]) > 0 \
                and fields[6] != "UND":
            symbols.setdefault(int(fields[1], 16), []).append(fields[7])
    return symbols


def libc_functions() -> list[tuple[str, str, str]]:
    """(member, nm type, name) of every function libc.a defines, in archive order."""
    listing = subprocess.run(["nm", "-A", "--defined-only", libc_copy.system_libc()],
                             capture_output=True, text=True, check=True).stdout
    functions = []
    for line in listing.splitlines():
        # /usr/lib/x86_64-linux-gnu/libc.a:memset.o:0000000000000000 T memset
        match = re.match(r"^[^:]+:([^:]+):[0-9a-f]+ ([TtWwi]) (\S+)$", line)
        if match:
            functions.append((match.group(1), match.group(2), match.group(3)))
    return functions


def libc_sections(functions: list[tuple[str, str, str]]) -> dict[str, str]:
    """Function name -> the code section of its object in the sectioned copy of libc.a."""
    sections: dict[str, str] = {}
    for member, _, name in functions:
        sections.setdefault(name, libc_copy.member_section(member))
    return sections


def libc_variants(functions: list[tuple[str, str, str]], traced: list[str]) -> list[str]:
    """The builds of the traced IFUNC'd libc functions, other than the traced ones.

    memset.o chooses among memset-sse2-unaligned-erms.o, memset-avx2-unaligned-erms.o,
    memset-evex-unaligned-erms.o... by CPU: the guest's (QEMU's TCG) picks other builds than this
    host's, and not all of the host's own AVX-512 builds can be probed (see above). Listed together
    after everything traced (Debian's glibc 2.36: 128 objects, 175 KB of code), whichever a CPU
    uses sits in one place.
    """
    members = subprocess.run(["ar", "t", libc_copy.system_libc()], capture_output=True, text=True,
                             check=True).stdout.split()
    choosers = {member for member, kind, _ in functions if kind == "i"}
    traced_set = set(traced)
    variants = []
    for chooser in sorted(choosers):
        if libc_copy.member_section(chooser) not in traced_set:
            continue
        family = re.sub(r"\.o$", "", chooser) + "-"
        variants += [libc_copy.member_section(member) for member in members if member.startswith(family)]
    return [section for section in dict.fromkeys(variants) if section not in traced_set]


def starts_with_evex(image: bytes, offset: int) -> bool:
    """Whether the instruction at `offset` of the file (after an endbr64) has an EVEX prefix."""
    head = image[offset:offset + 5]
    if head.startswith(b"\xf3\x0f\x1e\xfa"):
        head = head[4:]
    return head[:1] == b"\x62"  # 0x62 is BOUND outside 64-bit mode, EVEX in it


class UprobeTrace:
    """Uprobes on `offsets` of `binary`, recorded in a tracing instance of their own; always removed."""

    def __init__(self, binary: str, offsets: list[int]):
        self.binary = binary
        self.offsets = offsets
        self.instance = os.path.join(TRACEFS, "instances", GROUP)
        self.events = (len(offsets) + PROBES_PER_EVENT - 1) // PROBES_PER_EVENT

    def _write(self, path: str, text: str) -> None:
        with open(path, "w") as f:
            f.write(text)

    def _define(self, lines: list[str]) -> None:
        # One write per batch of whole lines: the kernel parses at most 4 KiB per write.
        fd = os.open(os.path.join(TRACEFS, "uprobe_events"), os.O_WRONLY | os.O_APPEND)
        try:
            batch = ""
            for line in lines:
                if len(batch) + len(line) > 4000:
                    os.write(fd, batch.encode())
                    batch = ""
                batch += line
            if batch:
                os.write(fd, batch.encode())
        finally:
            os.close(fd)

    def __enter__(self) -> "UprobeTrace":
        if not os.path.isdir(TRACEFS):
            raise RuntimeError(f"no tracefs at {TRACEFS}")
        self._remove()  # what an interrupted run left
        os.mkdir(self.instance)
        self._write(os.path.join(self.instance, "buffer_size_kb"), "262144")
        self._write(os.path.join(self.instance, "options", "overwrite"), "0")  # keep the first events
        self._define([f"p:{GROUP}/fn{index // PROBES_PER_EVENT} {self.binary}:0x{offset:x}\n"
                      for index, offset in enumerate(self.offsets)])
        self._write(os.path.join(self.instance, "events", GROUP, "enable"), "1")
        return self

    def addresses(self) -> list[int]:
        """Probed addresses in the order they were first hit."""
        self._write(os.path.join(self.instance, "tracing_on"), "0")
        seen: dict[int, None] = {}
        with open(os.path.join(self.instance, "trace")) as trace:
            for line in trace:
                match = TRACE_LINE.search(line)
                if match:
                    seen.setdefault(int(match.group(2), 16), None)
        with open(os.path.join(self.instance, "per_cpu", "cpu0", "stats")) as stats:
            if any(line.startswith("dropped events:") and line.split()[-1] != "0" for line in stats):
                print("link_order: the trace buffer filled; later functions are missing", file=sys.stderr)
        return list(seen)

    def _remove(self) -> None:
        enable = os.path.join(self.instance, "events", GROUP, "enable")
        if os.path.exists(enable):
            self._write(enable, "0")
        if os.path.isdir(self.instance):
            os.rmdir(self.instance)
        events = os.path.join(TRACEFS, "events", GROUP)
        if os.path.isdir(events):
            self._define([f"-:{GROUP}/{name}\n" for name in sorted(os.listdir(events)) if name.startswith("fn")])

    def __exit__(self, *exc) -> None:
        self._remove()


def traced_functions(binary: str) -> list[str]:
    """Names of the agent's functions in the order the workload first entered them."""
    symbols = function_symbols(binary)
    segments = tcglog.executable_segments(binary)
    with open(binary, "rb") as f:
        image = f.read()
    addresses, offsets = [], []
    for address, names in sorted(symbols.items()):
        for vaddr, offset, size in segments:
            if vaddr <= address < vaddr + size and not starts_with_evex(image, address - vaddr + offset):
                addresses.append(address)
                offsets.append(address - vaddr + offset)
    with UprobeTrace(binary, offsets) as trace:
        workload(binary)
        entered = trace.addresses()
    return [name for address in entered for name in symbols.get(address, [])]


def guest_functions(binary: str, osbuilder: str) -> list[str]:
    """Names of the agent's functions in the order a guest's PID 1 first ran them (see above)."""
    os.environ["KATA_AGENT_BIN"] = binary
    os.environ["OSBUILDER_BIN"] = osbuilder
    import bench_boot
    import guests
    import kernel as kernel_mod
    from vm import Guest

    kernel = kernel_mod.fetch()
    initrd = guests.build(guests.GuestRecipe("minimal"), kernel)
    work = tempfile.mkdtemp(prefix="link-order-guest-")
    try:
        log = os.path.join(work, "in_asm.log")
        spec = guests.initrd_spec(kernel, initrd, "link-order")
        spec.memory = guests.GUEST_MEMORY
        spec.lifetime = 900
        (vaddr, _, size), = tcglog.executable_segments(binary)
        spec.extra_args = ["-d", "in_asm", "-D", log, "-dfilter", f"{vaddr:#x}+{size:#x}"]
        with Guest(spec, pathlib.Path(work)) as guest:
            client, _ = guests.ttrpc_ready(guest, 600)
            try:
                bench_boot.measure_rss(client, 2)
            finally:
                client.close()
        return translated_functions(log, binary)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def translated_functions(log: str, binary: str) -> list[str]:
    """The functions holding each block QEMU's in_asm log shows, in log order, from the agent's
    entry point on, for the blocks that are the agent's own (tcglog.Program.owns)."""
    symbols = sorted(function_symbols(binary).items())
    starts = [address for address, _ in symbols]
    program = tcglog.Program(binary)
    found = tcglog.blocks(log)
    start = program.started(found)
    names: list[str] = []
    for block in found[start:] if start is not None else []:
        index = bisect.bisect_right(starts, block.address) - 1
        if program.owns(block) and index >= 0:
            names.extend(symbols[index][1])
    return list(dict.fromkeys(names))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", required=True, help="release kata-agent built with SWIFT_FLAGS_release")
    parser.add_argument("--out", default=os.path.join(ROOT, "Sources", "kata-agent", "link-order.txt"))
    parser.add_argument("--osbuilder", default=os.path.join(ROOT, ".build-release", "release", "osbuilder"),
                        help="osbuilder for the guest's initrd")
    parser.add_argument("--no-guest", action="store_true", help="skip the guest boot (no kata kernel, no QEMU)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("link_order: uprobes need root", file=sys.stderr)
        return 1
    agent = os.path.realpath(args.agent)
    libc = libc_functions()
    in_libc = libc_sections(libc)
    functions = traced_functions(agent)
    if not functions:
        print("link_order: the workload entered no probed function", file=sys.stderr)
        return 1
    host_count = len(dict.fromkeys(functions))
    if not args.no_guest:
        functions += guest_functions(agent, os.path.realpath(args.osbuilder))
    sections = list(dict.fromkeys(in_libc.get(name, f".text.{name}") for name in functions))
    sections += libc_variants(libc, sections)
    with open(args.out, "w") as out:
        out.write(HEADER)
        # Sections no symbol names, so no probe sees them: C++ static initialisers (all run at
        # start) and Swift's assembler-local helpers (closure contexts' objectdestroy, value
        # witnesses, about 70 KB), scattered one per object over the whole .text, where each
        # one a start touched kept 64 KiB resident around it (2 MiB in all). gold takes globs.
        # (gcc names a C++ object's initialiser .text.startup.<name> with -ffunction-sections.)
        out.write(".text.startup*\n.text..L*\n")
        for section in sections:
            out.write(f"{section}\n")
    # SwiftPM does not see the file: a binary of this package's scratch directories is removed
    # so that the next build relinks it with the new order (anything else is left alone).
    if agent.startswith(os.path.realpath(ROOT) + "/.build"):
        os.unlink(agent)
    libc_objects = set(in_libc.values())
    guest_only = len(dict.fromkeys(functions)) - host_count
    print(f"link_order: {len(sections)} sections ({sum(s in libc_objects for s in sections)} of libc objects; "
          f"{guest_only} functions only the guest's PID 1 ran) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
