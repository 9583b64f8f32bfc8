#!/usr/bin/env python3
"""Writes kata-agent's link order (`make link-order`; run by hand, with perf, as root).

The functions an agent start and its first RPCs execute are spread over the 18 MB of .text, so
the kernel's fault-around (it maps the 64 KiB around each faulting page) maps about three
times what they touch: about 12 MiB of text resident after one Health.Check, for about 4 MiB
executed. Listed first, in the order they first ran, they fill a few MiB of pages instead.

Each function of our own modules and of the dependencies SwiftPM builds gets a section of its
own in release builds (-function-sections, Makefile RELEASE_SWIFT_FLAGS); the prebuilt Swift
runtime, stdlib and Foundation archives have one per public function. gold's
--section-ordering-file takes the section names; names that no longer exist (a renamed
function) are ignored by the linker, so a stale list costs locality, never correctness.

The workload: agent starts answered over ttrpc and over gRPC, then a sandbox with a container
run and an exec, so what a runtime's first calls execute is clustered too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "suites"))

HEADER = """\
# kata-agent link order for gold's --section-ordering-file, written by bench/link_order.py
# (make link-order): the functions an agent start and its first RPCs ran, in the order they
# first ran. Regenerate after large changes; a stale entry only costs locality.
"""


def workload(agent: str, starts: int) -> None:
    """The sampled runs: starts asked over both protocols, then one container's life."""
    from agentproc import AgentProcess, load_stubs
    from bundle import busybox_rootfs, runc_spec
    from containers import Agent, _new_id

    pb2, hpb2, oci, astub, hstub = load_stubs()
    for _ in range(starts):
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


def sampled_functions(perf_data: str, binary: str) -> list[str]:
    """Mangled names of the agent's functions in the order perf first sampled them."""
    script = subprocess.run(
        ["perf", "script", "-i", perf_data, "-F", "time,ip,sym,dso", "--no-demangle"],
        capture_output=True, text=True, check=True).stdout
    name = os.path.basename(binary)
    seen: dict[str, None] = {}
    for line in script.splitlines():
        if f"({os.path.realpath(binary)})" not in line and f"/{name})" not in line:
            continue
        fields = line.split()
        # time: ip symbol+offset (dso)
        if len(fields) < 4:
            continue
        symbol = fields[2].split("+0x")[0]
        if symbol and symbol != "[unknown]":
            seen.setdefault(symbol, None)
    return list(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", required=True, help="release kata-agent built with RELEASE_SWIFT_FLAGS")
    parser.add_argument("--out", default=os.path.join(ROOT, "Sources", "kata-agent", "link-order.txt"))
    parser.add_argument("--starts", type=int, default=30)
    parser.add_argument("--period", type=int, default=500, help="perf: one sample per this many user cycles")
    parser.add_argument("--passes", type=int, default=3,
                        help="sampled workloads; a function sampled in any of them is listed (one misses some)")
    args = parser.parse_args()
    if shutil.which("perf") is None:
        print("link_order: perf is not installed (linux-perf)", file=sys.stderr)
        return 1
    functions: dict[str, None] = {}
    with tempfile.TemporaryDirectory(prefix="kata-order-") as tmp:
        for number in range(args.passes):
            data = os.path.join(tmp, f"perf-{number}.data")
            recorded = subprocess.run(
                ["perf", "record", "-q", "-e", "cycles:u", "-c", str(args.period), "-o", data, "--",
                 sys.executable, os.path.abspath(__file__), "--agent", args.agent, "--workload", str(args.starts)],
                capture_output=True, text=True)
            if recorded.returncode != 0:
                print(f"link_order: perf record failed: {recorded.stderr.strip()}", file=sys.stderr)
                return 1
            for symbol in sampled_functions(data, args.agent):
                functions.setdefault(symbol, None)
    if not functions:
        print("link_order: no samples in the agent", file=sys.stderr)
        return 1
    with open(args.out, "w") as out:
        out.write(HEADER)
        for symbol in functions:
            out.write(f".text.{symbol}\n")
    # SwiftPM does not see the file: a binary of this package's scratch directories is removed
    # so that the next build relinks it with the new order (anything else is left alone).
    agent = os.path.realpath(args.agent)
    if agent.startswith(os.path.realpath(ROOT) + "/.build"):
        os.unlink(agent)
    print(f"link_order: {len(functions)} functions -> {args.out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[3] == "--workload":
        workload(sys.argv[2], int(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
