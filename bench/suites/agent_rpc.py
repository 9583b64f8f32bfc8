"""5. RPC overhead: Health.Check round trip over a unix socket, p50 and p99 of 10,000 calls."""

from __future__ import annotations

import os
import time

from agentproc import AgentProcess, load_stubs
from benchlib import Figure, Series, Skipped


def run(ctx) -> list:
    agent = ctx["agent"]
    if not os.path.isfile(agent):
        return [Skipped("rpc", "Health.Check latency", f"no release agent at {agent}")]
    agent_pb2, health_pb2, oci_pb2, agent_stub, health_stub = load_stubs()
    calls = 1000 if ctx["quick"] else 10000
    with AgentProcess(agent, health_stub, health_pb2) as proc:
        proc.start()
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
    return [
        Figure("health-p50", "Health.Check round trip p50", Series(series.label, "us", [p50]),
               target="< 100 us", met=p50 < 100,
               note=f"p99 {p99:.0f} us over {calls} calls; includes the Python client's own cost",
               command="bench/run.py --only rpc"),
    ]
