"""1-4: container run and exec latency vs runc, stdout throughput vs a pipe, 100 containers.

The agent runs as an ordinary process on a unix socket on this machine (root), driven by the
Python grpcio client; runc runs the same bundle. Needs root, runc and busybox-static.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time

import goclient
from agentproc import AgentProcess, load_stubs
from benchlib import Figure, Series, Skipped, interleave
from bundle import busybox_rootfs, runc_spec, spec_to_proto

_ids = itertools.count()
CHUNK = 32 * 1024  # the Go runtime's io.Copy buffer, what the shim reads with
STDOUT_BYTES = 256 << 20


def _new_id(prefix: str) -> str:
    return f"{prefix}{os.getpid()}-{next(_ids)}"


class Agent:
    """Thin synchronous wrapper over the generated AgentService stub."""

    def __init__(self, pb2, stub_factory, oci_pb2, channel):
        self.pb2 = pb2
        self.oci = oci_pb2
        self.stub = stub_factory(channel)

    def spec(self, spec: dict):
        return spec_to_proto(spec, self.oci.Spec())

    def create_sandbox(self, sandbox_id: str):
        self.stub.CreateSandbox(self.pb2.CreateSandboxRequest(sandbox_id=sandbox_id, hostname="bench"))

    def destroy_sandbox(self):
        try:
            self.stub.DestroySandbox(self.pb2.DestroySandboxRequest(), timeout=120)
        except Exception as error:  # the figures are taken; report, don't hide them
            print(f"  DestroySandbox at the end failed: {error}")

    def run(self, spec_proto) -> int:
        cid = _new_id("c")
        self.stub.CreateContainer(self.pb2.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec_proto))
        self.stub.StartContainer(self.pb2.StartContainerRequest(container_id=cid))
        status = self.stub.WaitProcess(self.pb2.WaitProcessRequest(container_id=cid, exec_id=cid)).status
        self.stub.RemoveContainer(self.pb2.RemoveContainerRequest(container_id=cid, timeout=10))
        return status

    def start_long(self, spec_proto) -> str:
        cid = _new_id("l")
        self.stub.CreateContainer(self.pb2.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec_proto))
        self.stub.StartContainer(self.pb2.StartContainerRequest(container_id=cid))
        return cid

    def exec_true(self, cid: str, process_proto) -> int:
        eid = _new_id("e")
        self.stub.ExecProcess(self.pb2.ExecProcessRequest(container_id=cid, exec_id=eid, process=process_proto))
        return self.stub.WaitProcess(self.pb2.WaitProcessRequest(container_id=cid, exec_id=eid)).status

    def remove(self, cid: str):
        self.stub.SignalProcess(self.pb2.SignalProcessRequest(container_id=cid, exec_id="", signal=9))
        self.stub.RemoveContainer(self.pb2.RemoveContainerRequest(container_id=cid, timeout=10))


def _runc(root: str, *args: str) -> None:
    # stderr goes to a file, not a pipe: `runc run -d` hands its stdio to the detached
    # container, which would hold a pipe open and make the read wait for ever.
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run(["runc", "--root", root, *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"runc {' '.join(args)} failed ({proc.returncode}): {err.read().decode(errors='replace')}")


def run(ctx) -> list:
    if os.geteuid() != 0:
        return [Skipped("containers", "Container benchmarks", "needs root")]
    if not os.path.isfile(ctx["agent"]):
        return [Skipped("containers", "Container benchmarks", f"no release agent at {ctx['agent']}")]
    if shutil.which("runc") is None:
        return [Skipped("containers", "Container benchmarks", "runc missing: apt-get install runc")]

    agent_pb2, health_pb2, oci_pb2, agent_stub, health_stub = load_stubs()
    quick = ctx["quick"]
    work = tempfile.mkdtemp(prefix="kata-bench-ctr-")
    bundle = os.path.join(work, "bundle")
    os.makedirs(bundle)
    shutil.copytree(busybox_rootfs(os.path.join(ctx["cache"], "busybox")), os.path.join(bundle, "rootfs"),
                    symlinks=True)
    runc_root = os.path.join(work, "runc-state")
    results = []
    try:
        with AgentProcess(ctx["agent"], health_stub, health_pb2) as proc:
            proc.start()
            agent = Agent(agent_pb2, agent_stub, oci_pb2, proc.channel)
            agent.create_sandbox(_new_id("sb"))
            try:
                # 1. Run latency: Create+Start+Wait(+Remove) of `true` vs `runc run`.
                true_spec = runc_spec(bundle, ["true"])
                true_proto = agent.spec(true_spec)
                runs = 5 if quick else 20

                def runc_run():
                    _runc(runc_root, "run", "-b", bundle, _new_id("r"))

                ours, ref = interleave(lambda: agent.run(true_proto), runc_run, runs)
                results.append(_ratio_figure("run", "Container run (create+start+wait `true`)", ours, ref,
                                             "runc run", 0.5, "<= 0.5 x runc"))

                # 2. Exec latency in a running container vs `runc exec`.
                ours, ref = _exec_pair(agent, bundle, runc_root, true_spec, runs)
                results.append(_ratio_figure("exec", "Exec latency (exec+wait `true`)", ours, ref,
                                             "runc exec", 0.5, "<= 0.5 x runc exec"))

                # 3. Stdout throughput: 256 MiB through ReadStdout vs the same bytes from a pipe.
                results.append(_stdout(agent, bundle, true_spec, quick, proc.address, ctx.get("agent_ctl", ""),
                                       goclient.build(ctx["cache"])))

                # 4. Many containers in one sandbox, created concurrently.
                results.extend(_many(agent, proc, bundle, quick))
                results.append(_zygote_memory(proc))
            finally:
                # The agent runs on this host: DestroySandbox removes what is left and
                # unmounts /run/sandbox-ns, which killing it would leave behind.
                agent.destroy_sandbox()
        # 5. The same two latencies with the init zygote switched off: what it buys, same run.
        with AgentProcess(ctx["agent"], health_stub, health_pb2, env={"KATA_AGENT_INIT_ZYGOTE": "0"}) as proc:
            proc.start()
            agent = Agent(agent_pb2, agent_stub, oci_pb2, proc.channel)
            agent.create_sandbox(_new_id("sb"))
            try:
                results.extend(_without_zygote(agent, bundle, runc_root, quick))
            finally:
                agent.destroy_sandbox()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _zygote_memory(proc: AgentProcess) -> Figure:
    memory = proc.zygote_memory_kib() or {}
    note = "no zygote found"
    if memory:
        note = (f"its own (anonymous) memory; its RSS is {memory['Rss']} KiB, of which {memory['Pss_Shmem']} KiB "
                "are pages of the sealed memfd copy of the agent that every container init runs from, "
                "resident from the first container on with or without the zygote")
    return Figure("zygote-memory", "Init zygote process memory (after the runs above)",
                  Series("anonymous", "KiB", [memory.get("Anonymous", 0)]),
                  note=note, command="bench/run.py --only containers")


def _without_zygote(agent: Agent, bundle: str, runc_root: str, quick: bool) -> list:
    runs = 5 if quick else 20
    true_spec = runc_spec(bundle, ["true"])
    true_proto = agent.spec(true_spec)
    ours, ref = interleave(lambda: agent.run(true_proto), lambda: _runc(runc_root, "run", "-b", bundle, _new_id("r")), runs)
    run = Figure("run-nozygote", "Container run, init zygote off (agent.init_zygote=false)",
                 Series("kata-agent via gRPC", "ms", ours), Series("runc run", "ms", ref),
                 note="inits re-executed from the sealed agent binary, as before the zygote",
                 command="bench/run.py --only containers")
    ours, ref = _exec_pair(agent, bundle, runc_root, true_spec, runs)
    exec_fig = Figure("exec-nozygote", "Exec latency, init zygote off (agent.init_zygote=false)",
                      Series("kata-agent via gRPC", "ms", ours), Series("runc exec", "ms", ref),
                      command="bench/run.py --only containers")
    return [run, exec_fig]


def _exec_pair(agent: Agent, bundle: str, runc_root: str, true_spec: dict, runs: int) -> tuple[list, list]:
    """Exec of `true` in a running container, ours and `runc exec`, interleaved."""
    long_cid = agent.start_long(agent.spec(runc_spec(bundle, ["sleep", "100000"])))
    runc_cid = _new_id("rl")
    _runc(runc_root, "run", "-d", "-b", bundle, runc_cid)
    process = spec_to_proto(dict(true_spec["process"], args=["true"]), agent.oci.Process())
    try:
        return interleave(lambda: agent.exec_true(long_cid, process),
                          lambda: _runc(runc_root, "exec", runc_cid, "true"), runs)
    finally:
        agent.remove(long_cid)
        subprocess.run(["runc", "--root", runc_root, "delete", "-f", runc_cid], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _ratio_figure(key, title, ours, ref, ref_label, max_ratio, target) -> Figure:
    fig = Figure(key, title, Series("kata-agent via gRPC", "ms", ours), Series(ref_label, "ms", ref),
                 target=target, command=f"bench/run.py --only containers")
    fig.met = fig.ratio is not None and fig.ratio <= max_ratio
    return fig


def _stdout(agent: Agent, bundle: str, base_spec: dict, quick: bool, address: str, agent_ctl: str,
            go_client) -> Figure:
    """Stdout throughput: `dd` of zeros in a container, drained through ReadStdout in 32 KiB reads.

    Ours is `kata-agent-ctl bench read-stdout --transport ttrpc`, timed from StartContainer to
    its EOF, so the container's start and the reader's own start count against us; the reference
    is busybox `dd` into a plain pipe, timed from spawn to EOF. The note keeps the same drain by
    containerd/ttrpc's Go client (the library the Kata shim reads with, Tests/interop/ttrpc-go
    read-bench), the Swift reader over gRPC and the Python grpcio reader.
    """
    total = (32 << 20) if quick else STDOUT_BYTES
    count = total // 65536
    args = ["dd", "if=/dev/zero", "bs=65536", f"count={count}"]
    spec = dict(base_spec, process=dict(base_spec["process"], args=args))
    spec_proto = agent.spec(spec)
    pb2 = agent.pb2

    def create() -> str:
        cid = _new_id("s")
        agent.stub.CreateContainer(pb2.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec_proto))
        return cid

    def finish(cid: str, got: int, reader: str) -> None:
        agent.stub.WaitProcess(pb2.WaitProcessRequest(container_id=cid, exec_id=cid))
        agent.stub.RemoveContainer(pb2.RemoveContainerRequest(container_id=cid, timeout=10))
        if got != total:
            raise RuntimeError(f"{reader} returned {got} bytes, expected {total}")

    reader_rates: list[float] = []

    def through_swift(transport: str = "ttrpc") -> float:
        cid = create()
        start = time.perf_counter()
        agent.stub.StartContainer(pb2.StartContainerRequest(container_id=cid))
        out = _swift_read_stdout(agent_ctl, address, cid, transport)
        elapsed = time.perf_counter() - start
        if transport == "ttrpc":
            reader_rates.append(out["mib_per_s"])
        finish(cid, out["bytes"], f"kata-agent-ctl bench read-stdout --transport {transport}")
        return elapsed

    go_rates: list[float] = []

    def through_go() -> float:
        cid = create()
        start = time.perf_counter()
        agent.stub.StartContainer(pb2.StartContainerRequest(container_id=cid))
        out = goclient.run(go_client, address, [{"op": "read-bench", "container_id": cid, "exec_id": cid, "len": CHUNK}])[0]
        elapsed = time.perf_counter() - start
        if out.get("code") != "OK":
            raise RuntimeError(f"ttrpc-interop read-bench: {out.get('code')} {out.get('message')}")
        go_rates.append(out["mib_per_s"])
        finish(cid, out["bytes"], "ttrpc-interop read-bench (containerd/ttrpc)")
        return elapsed

    def through_python() -> float:
        cid = create()
        start = time.perf_counter()
        agent.stub.StartContainer(pb2.StartContainerRequest(container_id=cid))
        got = 0
        while True:
            data = agent.stub.ReadStdout(pb2.ReadStreamRequest(container_id=cid, exec_id=cid, len=CHUNK)).data
            if not data:
                break
            got += len(data)
        elapsed = time.perf_counter() - start
        finish(cid, got, "ReadStdout (grpcio)")
        return elapsed

    def through_pipe() -> float:
        start = time.perf_counter()
        p = subprocess.Popen(["/bin/busybox"] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        got = 0
        fd = p.stdout.fileno()
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                break
            got += len(data)
        elapsed = time.perf_counter() - start
        p.wait()
        if got != total:
            raise RuntimeError(f"pipe returned {got} bytes, expected {total}")
        return elapsed

    have_swift = bool(agent_ctl) and os.path.isfile(agent_ctl)
    ours_fn = through_swift if have_swift else through_python
    runs = 3 if quick else 5
    # Interleaved after one warm-up round, like benchlib.interleave, with a third side.
    ours_s, ref_s, python_s, grpc_s, go_s = [], [], [], [], []
    for i in range(runs + 1):
        got = (ours_fn(), through_pipe(), through_python() if have_swift else None,
               through_swift("grpc") if have_swift else None, through_go() if go_client else None)
        if i == 0:
            reader_rates.clear()
            go_rates.clear()
            continue
        if got[4] is not None:
            go_s.append(got[4])
        ours_s.append(got[0])
        ref_s.append(got[1])
        if got[2] is not None:
            python_s.append(got[2])
        if got[3] is not None:
            grpc_s.append(got[3])
    mib = total / (1 << 20)
    ours = [mib / t for t in ours_s]
    ref = [mib / t for t in ref_s]
    if have_swift:
        label = "kata-agent-ctl ReadStdout over ttrpc"
        note = (f"ours timed from StartContainer to EOF; the reader's own loop alone: "
                f"{_median(reader_rates):.0f} MiB/s (median); "
                f"the same reader over gRPC: {_median(mib / t for t in grpc_s):.0f} MiB/s; "
                + (f"containerd/ttrpc's Go client, same drain: {_median(mib / t for t in go_s):.0f} MiB/s "
                   f"({_median(mib / t for t in go_s) / _median(ref):.2f} of the pipe; its loop alone "
                   f"{_median(go_rates):.0f} MiB/s); " if go_s else "no Go client (go not installed); ")
                + f"Python grpcio reader: {_median(mib / t for t in python_s):.0f} MiB/s (medians)")
    else:
        label = "ReadStdout via Python grpcio"
        note = f"no kata-agent-ctl at {agent_ctl}: Python grpcio reader, limited by its own per-call cost"
    fig = Figure("stdout", f"Stdout throughput ({mib:.0f} MiB, {CHUNK // 1024} KiB reads)",
                 Series(label, "MiB/s", ours), Series("plain pipe", "MiB/s", ref),
                 target=">= 0.25 x pipe", note=note, command="bench/run.py --only containers")
    fig.met = fig.ratio is not None and fig.ratio >= 0.25
    return fig


def _median(values) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _swift_read_stdout(agent_ctl: str, address: str, cid: str, transport: str = "ttrpc") -> dict:
    """`kata-agent-ctl bench read-stdout` on the container's init: {"bytes", "reads", "seconds", "mib_per_s"}."""
    proc = subprocess.run(
        [agent_ctl, "bench", "read-stdout", "--transport", transport, "--addr", address,
         "--container-id", cid, "--exec-id", cid, "--chunk", str(CHUNK)],
        capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"kata-agent-ctl bench read-stdout failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def _many(agent: Agent, proc: AgentProcess, bundle: str, quick: bool) -> list:
    n = 20 if quick else 100
    spec_proto = agent.spec(runc_spec(bundle, ["sleep", "100000"]))
    pb2 = agent.pb2
    fds_before = proc.fd_count()
    rss_before = proc.rss_kib()
    ids = [_new_id("m") for _ in range(n)]

    def create(cid):
        agent.stub.CreateContainer(pb2.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec_proto))
        agent.stub.StartContainer(pb2.StartContainerRequest(container_id=cid))

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(create, ids))
    total_ms = (time.perf_counter() - start) * 1000
    rss_after = proc.rss_kib()
    for cid in ids:
        agent.remove(cid)
    fds_after = proc.fd_count()
    per = (rss_after - rss_before) / n
    return [
        Figure("many-total", f"{n} containers created concurrently (total)",
               Series("create+start, 16 client threads", "ms", [total_ms]),
               note=f"fds before {fds_before}, after removing all {fds_after}"
                    + (" (returned)" if fds_after <= fds_before else " (LEAK)"),
               command="bench/run.py --only containers"),
        Figure("many-rss", "Agent RSS per idle container",
               Series(f"({rss_after} - {rss_before} KiB) / {n}", "KiB", [per]),
               target="<= 100 KiB", met=per <= 100, command="bench/run.py --only containers"),
    ]
