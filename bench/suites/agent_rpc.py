"""5. RPC overhead: Health.Check round trip over a unix socket, p50 and p99 of 10,000 calls.

The figure is taken with `kata-agent-ctl bench health` (grpc-swift, the stack the agent's
runtime-side peers would share), one sequential call at a time. A round trip includes the
client's own cost: on a 2-core machine grpc-swift's client spends about as much CPU per call as
the agent does, and Python grpcio less, so the grpcio figure is kept as a labelled row, and the
agent's CPU time per call (from /proc, over the Swift runs) isolates the server's share.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from agentproc import AgentProcess, load_stubs
from benchlib import Figure, Series, Skipped

WARMUP = 500


def swift_health(agent_ctl: str, address: str, calls: int, warmup: int = WARMUP) -> dict:
    """One `kata-agent-ctl bench health` run: {"calls", "p50_us", "p99_us", "min_us", "max_us", ...}."""
    proc = subprocess.run(
        [agent_ctl, "bench", "health", "--addr", address, "--calls", str(calls), "--warmup", str(warmup)],
        capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"kata-agent-ctl bench health failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(ctx) -> list:
    agent = ctx["agent"]
    if not os.path.isfile(agent):
        return [Skipped("rpc", "Health.Check latency", f"no release agent at {agent}")]
    agent_ctl = ctx.get("agent_ctl", "")
    agent_pb2, health_pb2, oci_pb2, agent_stub, health_stub = load_stubs()
    calls = 1000 if ctx["quick"] else 10000
    runs = 3 if ctx["quick"] else 5
    results = []
    with AgentProcess(agent, health_stub, health_pb2) as proc:
        proc.start()
        if os.path.isfile(agent_ctl):
            # Separate client processes, each its own connection and warm-up; the spread of
            # their p50s is the run-to-run noise.
            got, cpu = [], []
            for _ in range(runs):
                before = _cpu_seconds(proc.proc.pid)
                got.append(swift_health(agent_ctl, proc.address, calls))
                cpu.append((_cpu_seconds(proc.proc.pid) - before) * 1e6 / (calls + WARMUP))
            label = "kata-agent-ctl bench health (grpc-swift) -> kata-agent"
            p50 = Series(label, "us", [g["p50_us"] for g in got])
            p99 = Series(label, "us", [g["p99_us"] for g in got])
            results += [
                Figure("health-p50", "Health.Check round trip p50", p50,
                       target="< 100 us", met=p50.median < 100,
                       note=f"{runs} client runs of {calls} sequential calls on one connection each "
                            f"(after {WARMUP} warm-up calls); min call {min(g['min_us'] for g in got):.0f} us",
                       command="bench/run.py --only rpc"),
                Figure("health-p99", "Health.Check round trip p99", p99,
                       note=f"same runs; max call {max(g['max_us'] for g in got):.0f} us",
                       command="bench/run.py --only rpc"),
                Figure("health-agent-cpu", "Agent CPU time per Health.Check (server's share)",
                       Series("kata-agent utime+stime / calls", "us", cpu),
                       note="same runs, warm-up calls included; clock-tick resolution",
                       command="bench/run.py --only rpc"),
            ]
        else:
            results.append(Skipped("health-p50", "Health.Check round trip p50 (Swift client)",
                                   f"no kata-agent-ctl at {agent_ctl}"))

        stub = health_stub(proc.channel)
        request = health_pb2.CheckRequest()
        for _ in range(200):  # warm-up: connection, HTTP/2 windows, allocator
            stub.Check(request)
        lat = []
        for _ in range(calls):
            t = time.perf_counter()
            stub.Check(request)
            lat.append((time.perf_counter() - t) * 1e6)
    series = Series("Python grpcio client -> kata-agent", "us", lat)
    p50, p99 = series.percentile(50), series.percentile(99)
    results.append(
        Figure("health-p50-grpcio", "Health.Check round trip p50, Python grpcio client (comparison only)",
               Series(series.label, "us", [p50]),
               note=f"p99 {p99:.0f} us over {calls} calls; includes grpcio's own per-call cost",
               command="bench/run.py --only rpc"))
    return results
