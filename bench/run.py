#!/usr/bin/python3
"""`make bench`: runs every benchmark side by side with its reference and writes the report.

Usage: bench/run.py [--quick] [--only KEY[,KEY...]] [--agent BIN] [--agent-ctl BIN] [--osbuilder BIN]

Writes BENCHMARKS.md, bench/results.json and bench/plots/*.svg. Nothing here is a test:
no figure fails the run; a target that is missed is reported as missed. With --only, the
chosen suites' rows replace theirs in the existing results.json (the report says which rows
were re-measured when); the other rows keep the figures of the run that measured them.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

# grpcio's fork handlers can deadlock a child forked while a channel is live (the container
# suite starts runc between RPCs); the bench never uses gRPC in a child, so turn them off.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import report  # noqa: E402
from benchlib import Figure, Skipped, result_from_json  # noqa: E402
from suites import agent_binary, agent_rpc, boot, containers, hardening, network, osbuilder, storage  # noqa: E402

SUITES = [
    ("containers", containers.run),   # 1-4: run, exec, stdout, many containers
    ("rpc", agent_rpc.run),           # 5: Health.Check latency
    ("binary", agent_binary.run),     # 6: size, exec to first served request
    ("osbuilder", osbuilder.run),     # 7: image and initrd sizes and build times
    ("boot", boot.run),               # 8: kernel start to agent ready
    ("network", network.run),         # 9: UpdateInterface + UpdateRoutes vs ip commands
    ("storage", storage.run),         # 10: CreateContainer with virtio-fs and hot-plugged rootfs
    ("hardening", hardening.run),     # 11: RPC fuzz (100k requests) and soak
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced run counts (smoke test)")
    parser.add_argument("--only", default="", help="comma-separated suite keys: " + ",".join(k for k, _ in SUITES))
    parser.add_argument("--agent", default=os.path.join(ROOT, ".build-release/release/kata-agent.trimmed"))
    parser.add_argument("--agent-ctl", default=os.path.join(ROOT, ".build-release/release/kata-agent-ctl"))
    parser.add_argument("--osbuilder", default=os.path.join(ROOT, ".build-release/release/osbuilder"))
    parser.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: rewrite BENCHMARKS.md from bench/results.json")
    args = parser.parse_args()
    if args.render:
        return render(args.out)

    wanted = {k for k in args.only.split(",") if k}
    unknown = wanted - {k for k, _ in SUITES}
    if unknown:
        print(f"bench: unknown suite(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2

    ctx = {
        "root": ROOT,
        "quick": args.quick,
        "agent": os.path.abspath(args.agent),
        "agent_ctl": os.path.abspath(args.agent_ctl),
        "osbuilder": os.path.abspath(args.osbuilder),
        "cache": os.path.join(HERE, "cache"),
        "boot_phases": [],
    }
    os.makedirs(ctx["cache"], exist_ok=True)

    results: list = []
    for key, run in SUITES:
        if wanted and key not in wanted:
            continue
        print(f"bench: {key} ...", flush=True)
        try:
            got = run(ctx)
        except Exception as exc:  # a suite that breaks is reported, the others still run
            traceback.print_exc()
            got = [Skipped(key, key, f"suite failed: {exc}")]
        for r in got:
            if isinstance(r, Figure):
                print(f"  {r.title}: {r.ours.median:.4g} {r.ours.unit}"
                      + (f" vs {r.reference.median:.4g} {r.reference.unit}" if r.reference else ""), flush=True)
            else:
                print(f"  {r.title}: not measured: {r.reason}", flush=True)
        results.extend(got)

    meta = {
        "date": report.now_utc(),
        "machine": report.machine_summary(),
        "command": ("make bench" + (" QUICK=1" if args.quick else "")) if not wanted
        else "bench/run.py --only " + ",".join(sorted(wanted)) + (" --quick" if args.quick else ""),
        "quick": args.quick,
    }
    results_path = os.path.join(HERE, "results.json")
    if wanted and os.path.exists(results_path):
        results, meta = merge(results_path, results, meta)
    report.write_json(results, results_path, meta)
    plots = report.write_plots(results, os.path.join(HERE, "plots"), ctx["boot_phases"])
    if wanted:
        plots = kept_plots(plots)
    report.write_markdown(results, args.out, meta, plots)
    print(f"bench: wrote {args.out}, bench/results.json, {len(plots)} plot(s)")
    return 0


def kept_plots(written: list[str]) -> list[str]:
    """`written` plus the plots of the earlier run that this partial one did not redraw."""
    directory = os.path.join(HERE, "plots")
    earlier = [os.path.join(directory, name) for name in sorted(os.listdir(directory)) if name.endswith(".svg")]
    return written + [p for p in earlier if p not in written]


def render(out: str) -> int:
    """BENCHMARKS.md again from bench/results.json (after a correction of its text)."""
    import json
    with open(os.path.join(HERE, "results.json")) as f:
        data = json.load(f)
    results = [result_from_json(r) for r in data["results"]]
    report.write_markdown(results, out, data["meta"], kept_plots([]))
    print(f"bench: wrote {out} from bench/results.json")
    return 0


def merge(path: str, fresh: list, meta: dict) -> tuple[list, dict]:
    """The earlier run's results with `fresh` in place of the rows they re-measure."""
    import json
    with open(path) as f:
        earlier = json.load(f)
    by_key = {r.key: r for r in fresh}
    merged = []
    for data in earlier["results"]:
        merged.append(by_key.pop(data["key"], None) or result_from_json(data))
    # A row the earlier run did not have goes after the row measured just before it.
    for index, r in enumerate(fresh):
        if r.key not in by_key:
            continue
        previous = {f.key for f in fresh[:index]}
        at = max((i + 1 for i, m in enumerate(merged) if m.key in previous), default=len(merged))
        merged.insert(at, r)
    base = dict(earlier["meta"])
    updates = [u for u in base.get("updates", []) if u.get("command") != meta["command"]]
    base["updates"] = updates + [{"date": meta["date"], "command": meta["command"],
                                  "keys": [r.key for r in fresh]}]
    return merged, base


if __name__ == "__main__":
    sys.exit(main())
