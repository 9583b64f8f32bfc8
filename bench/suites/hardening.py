"""11. Hardening runs (issue 14): the structure-aware RPC fuzzer and the soak, at full counts.

Runs Tests/hardening/rpcfuzz.py (100,000 requests over ttrpc and gRPC against the agent in its
user-namespace sandbox) and Tests/hardening/soak.py (1,000 create/start/wait/remove cycles,
1,000 execs 64 at a time, a stdout reader killed mid-read), each as its own process with a
deadline, and reports what they measured. Correctness is the point, not speed: a fuzz run with
a death, a hang or a mismatch, or a soak with a leak, is reported as not met.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from benchlib import Figure, Series, Skipped

FUZZ_REQUESTS = 100_000
DEADLINE_S = 3600


def _run(ctx, script: str, args: list[str]) -> tuple[dict | None, str]:
    out = tempfile.NamedTemporaryFile(prefix="bench-hardening-", suffix=".json", delete=False)
    out.close()
    env = dict(os.environ, KATA_AGENT_BIN=ctx["agent"], KATA_AGENT_CTL_BIN=ctx["agent_ctl"])
    cmd = [sys.executable, os.path.join(ctx["root"], "Tests", "hardening", script), *args, "--json", out.name]
    try:
        proc = subprocess.run(cmd, env=env, cwd=ctx["root"], capture_output=True, text=True, timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        return None, f"{script} ran over {DEADLINE_S} s"
    try:
        with open(out.name) as f:
            return json.load(f), proc.stdout[-400:] + proc.stderr[-400:]
    except (OSError, ValueError):
        return None, f"{script} exited {proc.returncode} without a summary: {proc.stderr.strip()[-300:]}"
    finally:
        os.unlink(out.name)


def _agent_label(ctx) -> str:
    path = ctx["agent"]
    return "release agent" if "/release/" in path else f"agent {os.path.relpath(path, ctx['root'])}"


def run(ctx) -> list:
    if os.geteuid() != 0:
        return [Skipped("hardening", "RPC fuzz and soak", "needs root (sandboxed agent, containers)")]
    out: list = []
    requests = 5000 if ctx["quick"] else FUZZ_REQUESTS
    fuzz, detail = _run(ctx, "rpcfuzz.py", ["--requests", str(requests), "--seed", "20261206",
                                            "--agent", ctx["agent"]])
    if fuzz is None:
        out.append(Skipped("rpc-fuzz", "RPC fuzz", detail))
    else:
        bad = fuzz["deaths"] + fuzz["hangs"]
        note = (f"{_agent_label(ctx)}; "
                f"{fuzz['requests']} requests in {fuzz['seconds']} s ({fuzz['by_transport']}), "
                f"{fuzz['planned_restarts']} planned restarts after DestroySandbox, "
                f"{fuzz['abuse_connections']} protocol-abuse connections, "
                f"{fuzz['differential_checks']} ttrpc/gRPC refusals compared, "
                f"{len(fuzz['failures'])} failures; codes {fuzz['codes']}")
        out.append(Figure(
            "rpc-fuzz", "RPC fuzz: agent deaths + hangs (every RPC, ttrpc and gRPC)",
            Series("deaths + hangs", "count", [float(bad)]),
            target=f"0 in >= {FUZZ_REQUESTS:,} requests",
            met=bad == 0 and not fuzz["failures"] and fuzz["requests"] >= FUZZ_REQUESTS,
            note=note, command=f"make fuzz-rpc FUZZ_REQUESTS={requests}"))
        out.append(Figure(
            "rpc-fuzz-rate", "RPC fuzz: requests per second through the real server",
            Series("requests/s", "req/s", [float(fuzz["requests_per_second"])])))
    counts = ["--cycles", "100", "--execs", "200", "--concurrency", "16"] if ctx["quick"] else \
        ["--cycles", "1000", "--execs", "1000", "--concurrency", "64"]
    soak, detail = _run(ctx, "soak.py", [*counts, "--agent", ctx["agent"]])
    if soak is None:
        out.append(Skipped("soak", "Soak", detail))
        return out
    phases = soak.get("phases", {})
    leaks = [f"{name}: {leak}" for name, phase in phases.items() for leak in phase.get("leaks", [])]
    cycles, execs = phases.get("cycles", {}), phases.get("execs", {})
    base = soak.get("baseline", {})
    growth = max((p.get("after", {}).get("rss_kib", 0) - base.get("rss_kib", 0) for p in phases.values()), default=0)
    note = (f"{_agent_label(ctx)}; cycles {cycles.get('count')} at {cycles.get('ms_per_cycle')} ms, execs {execs.get('count')} at "
            f"{execs.get('ms_per_exec')} ms; after every phase fds, threads, mounts, cgroup dirs and /run entries "
            f"{'back to the baseline' if not leaks else 'LEAKED: ' + '; '.join(leaks)} ({base})")
    out.append(Figure(
        "soak-rss", "Soak: agent RSS growth over the warm baseline after all phases",
        Series("RSS growth", "KiB", [float(growth)]), target="<= 1024 KiB, nothing leaked",
        met=bool(soak.get("ok")) and not leaks and growth <= 1024, note=note,
        command="make soak" + (" (QUICK counts)" if ctx["quick"] else "")))
    return out
