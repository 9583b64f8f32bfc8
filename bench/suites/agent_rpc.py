"""5. RPC overhead: Health.Check round trip over a unix socket, p50 and p99 of 10,000 calls,
over ttrpc (what Kata runtimes speak) and over gRPC, and the agent's CPU per call for each.

The main figures are taken with `kata-agent-ctl bench health --transport ttrpc|grpc`, one
sequential call at a time, the two transports alternating run by run so that machine noise
lands on both. A round trip includes the client's own cost, so the agent's CPU time per call
(from /proc) isolates the server's share. Two more clients are labelled rows: containerd/ttrpc's
own Go client (the Kata Go runtime's library; Tests/interop/ttrpc-go, when Go is installed) and
Python grpcio.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import goclient
from agentproc import AgentProcess, load_stubs
from benchlib import Figure, Series, Skipped

WARMUP = 500
TRANSPORTS = ("ttrpc", "grpc")


def swift_health(agent_ctl: str, address: str, calls: int, warmup: int = WARMUP, transport: str = "ttrpc") -> dict:
    """One `kata-agent-ctl bench health` run: {"calls", "p50_us", "p99_us", "min_us", "max_us", ...}."""
    proc = subprocess.run(
        [agent_ctl, "bench", "health", "--transport", transport, "--addr", address,
         "--calls", str(calls), "--warmup", str(warmup)],
        capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"kata-agent-ctl bench health --transport {transport} failed ({proc.returncode}): "
                           f"{proc.stderr.strip()}")
    return json.loads(proc.stdout)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _latency_figures(transport: str, got: list[dict], cpu: list[float], runs: int, calls: int, label: str) -> list:
    suffix = "" if transport == "ttrpc" else f"-{transport}"
    p50 = Series(label, "us", [g["p50_us"] for g in got])
    p99 = Series(label, "us", [g["p99_us"] for g in got])
    target = dict(target="< 100 us", met=p50.median < 100) if transport == "ttrpc" else {}
    return [
        Figure(f"health-p50{suffix}", f"Health.Check round trip p50 over {transport}", p50,
               note=f"{runs} client runs of {calls} sequential calls on one connection each "
                    f"(after {WARMUP} warm-up calls); min call {min(g['min_us'] for g in got):.0f} us",
               command="bench/run.py --only rpc", **target),
        Figure(f"health-p99{suffix}", f"Health.Check round trip p99 over {transport}", p99,
               note=f"same runs; max call {max(g['max_us'] for g in got):.0f} us",
               command="bench/run.py --only rpc"),
        Figure(f"health-agent-cpu{suffix}", f"Agent CPU time per Health.Check over {transport} (server's share)",
               Series("kata-agent utime+stime / calls", "us", cpu),
               note="same runs, warm-up calls included; clock-tick resolution",
               command="bench/run.py --only rpc"),
    ]


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
            got = {t: [] for t in TRANSPORTS}
            cpu = {t: [] for t in TRANSPORTS}
            for _ in range(runs):
                for transport in TRANSPORTS:
                    before = _cpu_seconds(proc.proc.pid)
                    got[transport].append(swift_health(agent_ctl, proc.address, calls, transport=transport))
                    cpu[transport].append((_cpu_seconds(proc.proc.pid) - before) * 1e6 / (calls + WARMUP))
            for transport in TRANSPORTS:
                label = f"kata-agent-ctl bench health --transport {transport} -> kata-agent"
                results += _latency_figures(transport, got[transport], cpu[transport], runs, calls, label)
        else:
            results.append(Skipped("health-p50", "Health.Check round trip p50 (Swift client)",
                                   f"no kata-agent-ctl at {agent_ctl}"))

        results.append(_go_ttrpc(ctx, proc, calls, runs))

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


def _go_ttrpc(ctx, proc: AgentProcess, calls: int, runs: int):
    """containerd/ttrpc's Go client: the Kata Go runtime's own library, compiled."""
    try:
        built = goclient.build(ctx["cache"])
    except Exception as exc:  # a build failure is reported, the suite goes on
        return Skipped("health-p50-go-ttrpc", "Health.Check round trip p50, Go ttrpc client", f"build failed: {exc}")
    if built is None:
        return Skipped("health-p50-go-ttrpc", "Health.Check round trip p50, Go ttrpc client",
                       "go or protoc not installed (make deps)")
    got, cpu = [], []
    for _ in range(runs):
        before = _cpu_seconds(proc.proc.pid)
        (result,) = goclient.run(built, proc.address, [{"op": "bench", "calls": calls, "warmup": WARMUP}])
        if result.get("code") != "OK":
            raise RuntimeError(f"Go ttrpc bench failed: {result}")
        got.append(result)
        cpu.append((_cpu_seconds(proc.proc.pid) - before) * 1e6 / (calls + WARMUP))
    return Figure("health-p50-go-ttrpc", "Health.Check round trip p50, containerd/ttrpc Go client",
                  Series("containerd/ttrpc 1.1.1 Go client -> kata-agent", "us", [g["p50_us"] for g in got]),
                  note=f"{runs} runs of {calls} calls; p99 median {sorted(g['p99_us'] for g in got)[len(got) // 2]:.0f} us; "
                       f"agent CPU {sorted(cpu)[len(cpu) // 2]:.0f} us per call",
                  command="bench/run.py --only rpc")
