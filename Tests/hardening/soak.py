#!/usr/bin/python3
"""Soak of the kata-agent (issue 14): nothing leaks over many container and exec lifecycles, and
no output is lost when a reader dies in the middle of ReadStdout.

The debug agent runs as an ordinary root process on a unix socket (bench/agentproc.py) and is
driven over ttrpc as the Kata runtime drives it, one connection with many calls in flight
(soakwire.MuxClient): CreateSandbox, then three phases, then DestroySandbox.

1. cycles: CreateContainer (busybox bundle) / StartContainer / ReadStdout+ReadStderr to EOF /
   WaitProcess / RemoveContainer, one after another, each exit code and output checked.
2. execs: in one running container, ExecProcess with `--concurrency` in flight, `--execs` in
   all, each one's stdout, stderr and exit code checked.
3. stream: a container writes numbered lines, stops on stdin, then writes more. A first client
   (a separate process) reads the first part, leaves ReadStdout calls waiting and is killed; then
   clients that leave in the middle of a call while data is flowing (shutting their sending side,
   so the agent sees them go, and collecting whatever it still answered); then a last client reads
   to EOF. Concatenated, what the clients got must be exactly what was written.

A baseline of the agent's fds, threads, RSS, mounts, cgroup directories and /run entries is taken
after a warm-up of each phase (first use allocates caches and grows pools); after each phase they
must be back to it (RSS within 1 MiB). Any leak or wrong output: exit 1 with one line saying what.
The agent is always killed and what the run created is always removed.

    soak.py --cycles 1000 --execs 1000 --concurrency 64 --json out/soak.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
for _path in (HERE, REPO / "Tests" / "e2e", REPO / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from agentclient import RpcFailed, agent_binary, agent_pb2, health_pb2, oci_pb2  # noqa: E402
from agentproc import AgentProcess, load_stubs  # noqa: E402
from bundle import busybox_rootfs, runc_spec, spec_to_proto  # noqa: E402
import soakhost  # noqa: E402
from soakwire import MuxClient, StdoutReader, wait_consumed  # noqa: E402

CHUNK = 32 * 1024  # the Go runtime's io.Copy buffer, what a shim reads with


class SoakFailure(Exception):
    """A leak, a wrong output or a failed call: the one line the run ends with."""


class SoakTimeout(BaseException):
    """The whole run's deadline passed (raised from SIGALRM in the main thread)."""


class Soak:
    def __init__(self, args):
        self.args = args
        self.tag = args.tag or f"soak{os.getpid()}"
        self.workdir = tempfile.mkdtemp(prefix=f"kata-{self.tag}-")
        self.judge = soakhost.Judge(self.tag, self.workdir)
        # Inherited by the agent: a run killed before its clean-up leaves it findable.
        os.environ[soakhost.TAG_ENV] = self.tag
        self.agent: AgentProcess | None = None
        self.client: MuxClient | None = None
        self.sandbox = False
        self.summary: dict = {"ok": False, "tag": self.tag, "agent": args.agent, "phases": {},
                              "counts": {"cycles": args.cycles, "execs": args.execs,
                                         "concurrency": args.concurrency, "stream_mib": args.stream_mib,
                                         "leave_rounds": args.leave_rounds}}

    # ---- plumbing -----------------------------------------------------------------------------

    def call(self, rpc: str, request, timeout: float | None = None):
        assert self.client is not None
        try:
            return self.client.call(rpc, request, timeout=timeout or self.args.call_timeout)
        except RpcFailed as error:
            raise SoakFailure(f"{rpc} failed: {error.code}: {error.details}") from None

    def spec(self, args: list[str]):
        base = self.base_spec
        return spec_to_proto(dict(base, process=dict(base["process"], args=args)), oci_pb2.Spec())

    def process(self, args: list[str]):
        return spec_to_proto(dict(self.base_spec["process"], args=args), oci_pb2.Process())

    def read_all(self, rpc: str, cid: str, eid: str) -> bytes:
        out = bytearray()
        while True:
            data = self.call(rpc, agent_pb2.ReadStreamRequest(container_id=cid, exec_id=eid, len=CHUNK)).data
            if not data:
                return bytes(out)
            out += data

    def create_start(self, cid: str, args: list[str]) -> None:
        self.call("CreateContainer", agent_pb2.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=self.spec(args)))
        self.call("StartContainer", agent_pb2.StartContainerRequest(container_id=cid))

    def wait(self, cid: str, eid: str) -> int:
        return self.call("WaitProcess", agent_pb2.WaitProcessRequest(container_id=cid, exec_id=eid)).status

    def remove(self, cid: str) -> None:
        self.call("RemoveContainer", agent_pb2.RemoveContainerRequest(container_id=cid, timeout=10))

    def alive(self) -> None:
        assert self.agent is not None and self.agent.proc is not None
        if self.agent.proc.poll() is not None:
            raise SoakFailure(f"the agent died (exit {self.agent.proc.returncode})")

    # ---- the phases ---------------------------------------------------------------------------

    def cycles(self, count: int, prefix: str) -> None:
        for n in range(count):
            cid = f"{self.tag}-{prefix}{n}"
            code = n % 7
            self.create_start(cid, ["sh", "-c", f"echo cycle-{n}; echo cycle-{n}-err >&2; exit {code}"])
            out = self.read_all("ReadStdout", cid, cid)
            err = self.read_all("ReadStderr", cid, cid)
            status = self.wait(cid, cid)
            self.remove(cid)
            if out != f"cycle-{n}\n".encode() or err != f"cycle-{n}-err\n".encode() or status != code:
                raise SoakFailure(f"cycle {n} ({cid}): stdout {out!r}, stderr {err!r}, exit {status}; "
                                  f"expected cycle-{n} / cycle-{n}-err / {code}")

    def execs(self, count: int, concurrency: int, prefix: str) -> None:
        cid = f"{self.tag}-{prefix}"
        self.create_start(cid, ["sleep", "1000000"])
        try:
            def one(n: int) -> None:
                eid = f"{self.tag}-{prefix}e{n}"
                code = n % 7
                self.call("ExecProcess", agent_pb2.ExecProcessRequest(
                    container_id=cid, exec_id=eid,
                    process=self.process(["sh", "-c", f"echo out-{n}; echo err-{n} >&2; exit {code}"])))
                out = self.read_all("ReadStdout", cid, eid)
                err = self.read_all("ReadStderr", cid, eid)
                status = self.wait(cid, eid)
                if out != f"out-{n}\n".encode() or err != f"err-{n}\n".encode() or status != code:
                    raise SoakFailure(f"exec {n} ({eid}): stdout {out!r}, stderr {err!r}, exit {status}; "
                                      f"expected out-{n} / err-{n} / {code}")

            pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="exec")
            try:
                for future in concurrent.futures.as_completed([pool.submit(one, n) for n in range(count)]):
                    future.result()
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        except BaseException:
            self.quietly(lambda: self.remove_running(cid))
            raise
        self.remove_running(cid)

    def remove_running(self, cid: str) -> None:
        self.call("SignalProcess", agent_pb2.SignalProcessRequest(container_id=cid, exec_id="", signal=9))
        self.wait(cid, cid)
        self.remove(cid)

    @staticmethod
    def quietly(body) -> None:
        """Clean-up after a failure: its own failure must not hide the first one (DestroySandbox
        at the end removes what is left)."""
        try:
            body()
        except SoakFailure:
            pass

    @staticmethod
    def lines(first: int, target_bytes: int) -> tuple[int, bytes]:
        """Numbered lines from `first` until `target_bytes`: (last number, the bytes `seq` prints)."""
        out = bytearray()
        n = first - 1
        while len(out) < target_bytes:
            n += 1
            out += b"%d\n" % n
        return n, bytes(out)

    def stream(self, prefix: str) -> dict:
        """Phase 3: returns figures of the run."""
        assert self.agent is not None
        cid = f"{self.tag}-{prefix}"
        total = int(self.args.stream_mib * (1 << 20))
        last_a, part_a = self.lines(1, total // 3)
        last_b, part_b = self.lines(last_a + 1, total - len(part_a))
        self.create_start(cid, ["sh", "-c", f"seq 1 {last_a}; read x; seq {last_a + 1} {last_b}"])
        got = bytearray()
        figures = {"bytes": len(part_a) + len(part_b), "left_mid_call": 0, "answered_after_leaving": 0}
        try:
            got += self.killed_reader(cid, len(part_a))
            figures["killed_reader_bytes"] = len(got)
            self.call("WriteStdin", agent_pb2.WriteStreamRequest(container_id=cid, exec_id=cid, data=b"go\n"))
            eof = False
            for r in range(self.args.leave_rounds):
                reader = StdoutReader(self.agent.socket, cid, cid, CHUNK, self.args.call_timeout)
                try:
                    for _ in range(r % 3):
                        data = reader.read()
                        if not data:
                            eof = True
                            break
                        got += data
                    if eof:
                        break
                    # Half the rounds leave once the agent has the request (it is being served),
                    # half at once (it may see the request and the hang-up together).
                    data = reader.leave_mid_call(wait_until_read=r % 2 == 1)
                    figures["left_mid_call"] += 1
                    if data is not None:
                        figures["answered_after_leaving"] += 1
                        if not data:
                            eof = True
                            break
                        got += data
                finally:
                    reader.close()
            if not eof:
                reader = StdoutReader(self.agent.socket, cid, cid, CHUNK, self.args.call_timeout)
                try:
                    while data := reader.read():
                        got += data
                finally:
                    reader.close()
            status = self.wait(cid, cid)
        except BaseException:
            self.quietly(lambda: self.remove_running(cid))
            raise
        self.remove(cid)
        expected = part_a + part_b
        if bytes(got) != expected:
            raise SoakFailure(f"stream {cid}: {self.describe_loss(bytes(got), expected)}")
        if status != 0:
            raise SoakFailure(f"stream {cid}: exit {status}")
        return figures

    @staticmethod
    def describe_loss(got: bytes, expected: bytes) -> str:
        at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        line = expected.count(b"\n", 0, at) + 1
        return (f"clients got {len(got)} bytes, the container wrote {len(expected)} "
                f"({len(expected) - len(got):+d} missing); first difference at byte {at} (line {line}): "
                f"got {got[at:at + 24]!r}, expected {expected[at:at + 24]!r}")

    def killed_reader(self, cid: str, part: int) -> bytes:
        """A separate process reads `part` bytes, leaves `--inflight` ReadStdout calls waiting in the
        agent (the container is stopped on stdin), and is killed. Returns the bytes it got."""
        assert self.agent is not None
        out = os.path.join(self.workdir, "killed-reader.out")
        child = subprocess.Popen(
            [sys.executable, __file__, "--kill-reader", self.agent.socket, cid, str(part), out,
             str(self.args.inflight), str(self.args.call_timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            readable, _, _ = select.select([child.stdout], [], [], self.args.call_timeout * 2)
            line = child.stdout.readline().decode(errors="replace").strip() if readable else ""
            if line != "READY":
                child.kill()
                _, err = child.communicate(timeout=30)
                raise SoakFailure(f"the reader to be killed did not get ready ({line!r}): "
                                  f"{err.decode(errors='replace')[-2000:]}")
            child.kill()
            child.wait(timeout=30)
            if child.returncode != -signal.SIGKILL:
                raise SoakFailure(f"the reader to be killed ended by itself (exit {child.returncode}): a "
                                  f"ReadStdout answered while the container was stopped")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)
        with open(out, "rb") as f:
            return f.read()

    # ---- measuring ----------------------------------------------------------------------------

    def snapshot(self) -> soakhost.Snapshot:
        assert self.agent is not None and self.agent.proc is not None
        return soakhost.Snapshot.take(self.agent.proc.pid)

    def quiet_baseline(self) -> soakhost.Snapshot:
        """A baseline once fds and threads hold still (a warm-up's last releases are asynchronous)."""
        end = time.monotonic() + self.args.settle
        last = self.snapshot()
        steady = 0
        while steady < 5 and time.monotonic() < end:
            time.sleep(0.05)  # polling interval of a deadline-bound wait
            now = self.snapshot()
            steady = steady + 1 if (now.fds, now.threads) == (last.fds, last.threads) else 0
            last = now
        return last

    def phase(self, name: str, count: int, unit: str, base: soakhost.Snapshot, body) -> None:
        print(f"{name}: {count} {unit}s ...", flush=True)
        start = time.monotonic()
        extra = body() or {}
        elapsed = time.monotonic() - start
        self.alive()
        after, leaks = soakhost.settle(self.agent.proc.pid, base, self.judge, self.args.settle)
        b, a = base.figures(self.judge), after.figures(self.judge)
        record = {"count": count, "elapsed_s": round(elapsed, 3),
                  f"ms_per_{unit}": round(elapsed * 1000 / max(count, 1), 2),
                  "before": b, "after": a, "leaks": leaks, **extra}
        self.summary["phases"][name] = record
        resources = "  ".join(f"{k} {b[k]}->{a[k]}" for k in b)
        print(f"{name}: {count} {unit}s in {elapsed:.1f} s ({record[f'ms_per_{unit}']} ms/{unit}); "
              f"{resources}" + (f"; {extra}" if extra else ""), flush=True)
        if leaks:
            raise SoakFailure(f"{name}: leaked: {'; '.join(leaks)}")

    # ---- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        args = self.args
        bundle = os.path.join(self.workdir, "bundle")
        busybox_rootfs(bundle)
        self.base_spec = runc_spec(bundle, ["true"])
        _, _, _, _, health_stub = load_stubs()
        # The agent's directory (socket, log) goes inside the tagged work directory, so even a
        # run killed before its clean-up leaves nothing a tag search cannot find.
        saved, tempfile.tempdir = tempfile.tempdir, self.workdir
        try:
            self.agent = AgentProcess(args.agent, health_stub, health_pb2)
        finally:
            tempfile.tempdir = saved
        self.agent.start()
        self.client = MuxClient(self.agent.socket)
        self.call("CreateSandbox", agent_pb2.CreateSandboxRequest(sandbox_id=self.tag, hostname="soak"))
        self.sandbox = True
        # Warm-up: each phase once, smaller, so lazily created caches, pools and the allocator's
        # per-thread arenas exist in the baseline (a few batches of execs reach every worker).
        self.cycles(min(args.cycles, 20), "w")
        self.execs(min(args.execs, 4 * args.concurrency), args.concurrency, "wx")
        self.stream("ws")
        base = self.quiet_baseline()
        self.summary["baseline"] = base.figures(self.judge)
        print(f"baseline after warm-up: {self.summary['baseline']}", flush=True)
        started = time.monotonic()
        self.phase("cycles", args.cycles, "cycle", base, lambda: self.cycles(args.cycles, "c"))
        self.phase("execs", args.execs, "exec", base, lambda: self.execs(args.execs, args.concurrency, "x"))
        self.phase("stream", 1, "stream", base, lambda: self.stream("s"))
        self.summary["elapsed_s"] = round(time.monotonic() - started, 3)
        self.call("DestroySandbox", agent_pb2.DestroySandboxRequest(), timeout=120)
        self.sandbox = False
        left = soakhost.leftovers(self.tag, ignore_pids=(self.agent.proc.pid,))
        if left:
            raise SoakFailure(f"left after DestroySandbox: {', '.join(left[:5])}")

    def teardown(self, failed: bool) -> None:
        if self.sandbox and self.client is not None and self.agent is not None and self.agent.proc.poll() is None:
            try:
                self.client.call("DestroySandbox", agent_pb2.DestroySandboxRequest(), timeout=60)
            except RpcFailed as error:
                print(f"DestroySandbox during clean-up: {error}", file=sys.stderr)
        if self.client is not None:
            self.client.close()
        if self.agent is not None:
            if failed:
                print(f"---- agent log tail ({self.agent.log_path}) ----\n{self.agent.log()}\n----", file=sys.stderr)
            self.agent.stop()
            shutil.rmtree(self.agent.dir, ignore_errors=True)
        done = soakhost.cleanup(self.tag, self.workdir, self.mounts_before)
        for line in done:
            print(f"clean-up: {line}", file=sys.stderr)
        shutil.rmtree(self.workdir, ignore_errors=True)


def kill_reader(argv: list[str]) -> int:
    """The first client of the stream phase, in its own process: reads `part` bytes, writes them to
    `out`, sends `inflight` more ReadStdout calls, says READY once the agent has read them, and
    waits to be killed."""
    sock, cid, part, out, inflight, timeout = argv[0], argv[1], int(argv[2]), argv[3], int(argv[4]), float(argv[5])
    client = MuxClient(sock)
    request = agent_pb2.ReadStreamRequest(container_id=cid, exec_id=cid, len=CHUNK)
    got = bytearray()
    while len(got) < part:
        data = client.call("ReadStdout", request, timeout=timeout).data
        if not data:
            print(f"EOF after {len(got)} of {part} bytes", file=sys.stderr)
            return 2
        got += data
    with open(out, "wb") as f:
        f.write(got)
    answered = threading.Event()

    def waiting_read() -> None:
        try:
            client.call("ReadStdout", request, timeout=600)
        except RpcFailed:
            pass
        answered.set()

    for _ in range(inflight):
        threading.Thread(target=waiting_read, daemon=True).start()
    end = time.monotonic() + timeout
    while client.in_flight() < inflight:
        if time.monotonic() >= end or answered.is_set():
            print("the waiting reads were not all sent", file=sys.stderr)
            return 2
        time.sleep(0.001)  # polling interval of a deadline-bound wait
    wait_consumed(client.sock, timeout)
    print("READY", flush=True)
    # Killed here; an answer to a waiting read means the agent handed out data it should not have.
    if answered.wait(timeout * 2):
        return 4
    return 3


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--kill-reader":
        return kill_reader(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--execs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--stream-mib", type=float, default=8.0, help="bytes the stream container writes")
    parser.add_argument("--leave-rounds", type=int, default=40, help="clients leaving mid-ReadStdout in the stream")
    parser.add_argument("--inflight", type=int, default=3, help="ReadStdout calls the killed client leaves waiting")
    parser.add_argument("--agent", default=agent_binary())
    parser.add_argument("--tag", default="", help="prefix of every id, mount and cgroup the run creates")
    parser.add_argument("--call-timeout", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=15.0, help="seconds resources may take to return")
    parser.add_argument("--deadline", type=int, default=3600, help="seconds for the whole run")
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (containers, mounts and cgroups on this host)", file=sys.stderr)
        return 2
    if not os.path.isfile(args.agent):
        print(f"soak: no agent at {args.agent} (set KATA_AGENT_BIN)", file=sys.stderr)
        return 2

    def expired(signum, frame):
        raise SoakTimeout(f"the soak ran over its deadline of {args.deadline}s")

    def terminated(signum, frame):
        raise SoakTimeout(f"the soak was stopped by signal {signum}")

    signal.signal(signal.SIGALRM, expired)
    signal.signal(signal.SIGTERM, terminated)
    signal.alarm(args.deadline)
    soak = Soak(args)
    soak.mounts_before = set(soakhost.mount_points(os.getpid()))
    failure = None
    try:
        soak.run()
    except (SoakFailure, SoakTimeout) as error:
        failure = str(error)
    except Exception as error:  # report any other failure the same way, after cleaning up
        failure = f"{type(error).__name__}: {error}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up runs to its end
        try:
            soak.teardown(failed=failure is not None)
        except Exception as error:
            failure = failure or f"clean-up failed: {error}"
    soak.summary["ok"] = failure is None
    soak.summary["failure"] = failure
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(soak.summary, f, indent=2)
    if failure:
        print(f"SOAK FAILED: {failure}", flush=True)
        return 1
    print(f"soak passed: {json.dumps({k: v for k, v in soak.summary.items() if k != 'phases'})}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
