#!/usr/bin/env python3
"""Structure-aware fuzzing of every RPC through the real agent server, over ttrpc and gRPC.

    rpcfuzz.py --requests 100000 [--seed N] [--json out.json]

Requests come from rpcgen (the proto schema with boundary values); the agent is the real
kata-agent binary in sandboxed_agent's namespaces. The run fails on:
- a death: the agent exits other than after a DestroySandbox it answered OK (then it is restarted
  and counted as a planned restart);
- a hang: a ttrpc call unanswered 15 s after its deadline (60 s for calls without one), or a
  health check on a fresh connection unanswered for 15 s;
- a status code outside google.rpc.Code, an unknown method not answered UNIMPLEMENTED, an even
  stream id not answered INVALID_ARGUMENT, a dropped connection, or a request refused with a
  different code or message on gRPC than on ttrpc.
INTERNAL and UNKNOWN answers are counted per RPC with examples: they are where validation is
missing, but a request can legitimately reach them in a sandbox without devices.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import random
import signal
import socket
import sys
import time
from typing import Any, Optional

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "e2e")]

import agentclient  # noqa: E402
import rpcgen  # noqa: E402
import templates  # noqa: E402
from sandboxed_agent import SandboxedAgent  # noqa: E402
from ttrpcpipe import ConnectionLost, PipelinedTtrpc  # noqa: E402

agent_pb2, health_pb2 = agentclient.agent_pb2, agentclient.health_pb2
LONG_POLL = {"WaitProcess", "ReadStdout", "ReadStderr", "GetOOMEvent"}
HANG_GRACE = 15.0
NO_DEADLINE_LIMIT = 60.0
WINDOW = 32
BATCH = 128
STATUS = agentclient.STATUS_NAMES


class Item:
    """One request as sent: enough to replay it."""

    __slots__ = ("index", "service", "method", "request", "payload", "timeout_nano", "damaged", "sent", "limit")

    def __init__(self, index, service, method, request, payload, timeout_nano, damaged):
        self.index, self.service, self.method = index, service, method
        self.request, self.payload, self.timeout_nano, self.damaged = request, payload, timeout_nano, damaged
        self.sent = 0.0
        seconds = timeout_nano / 1e9 if 0 < timeout_nano < NO_DEADLINE_LIMIT * 1e9 else NO_DEADLINE_LIMIT
        self.limit = seconds + HANG_GRACE

    @property
    def ends_the_agent(self) -> bool:
        """DestroySandbox: sent alone, and an OK answer stops the agent."""
        return self.service == "grpc.AgentService" and self.method == "DestroySandbox"

    @property
    def rpc(self) -> str:
        return f"{self.service}/{self.method}"

    def describe(self) -> str:
        return (f"#{self.index} {self.rpc} timeout_nano={self.timeout_nano} damaged={self.damaged} "
                f"payload={len(self.payload)} bytes {self.payload[:96].hex()}")


class Report:
    """Counts and failures of a run."""

    def __init__(self):
        self.codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.seconds = collections.Counter()
        self.by_transport = collections.Counter()
        self.examples: dict[str, list[str]] = collections.defaultdict(list)
        self.failures: list[str] = []
        self.deaths = self.hangs = self.planned_restarts = self.abuse_connections = 0
        self.differential_checks = 0

    def answered(self, item: Item, transport: str, code: int, message: str) -> None:
        name = STATUS[code] if 0 <= code < len(STATUS) else f"CODE_{code}"
        self.codes[item.rpc][name] += 1
        self.by_transport[transport] += 1
        if item.sent:
            self.seconds[item.rpc] += time.monotonic() - item.sent
        if name in ("INTERNAL", "UNKNOWN") and len(self.examples[item.rpc]) < 3:
            self.examples[item.rpc].append(f"{name}: {message[:200]}")
        if not 0 <= code < len(STATUS):
            self.fail(f"{transport} {item.describe()}: status code {code} is not a google.rpc.Code")

    def fail(self, line: str) -> None:
        print(f"FAIL {line}", file=sys.stderr, flush=True)
        if len(self.failures) < 200:
            self.failures.append(line)

    def totals(self) -> collections.Counter:
        total = collections.Counter()
        for counter in self.codes.values():
            total.update(counter)
        return total


class Fuzzer:
    def __init__(self, agent: SandboxedAgent, seed: int, report: Report, grpc_share: float = 0.4):
        self.agent = agent
        self.rng = random.Random(seed)
        self.gen = rpcgen.Generator(seed, scratch="/tmp/kata-fuzz", max_bytes=(4 << 20) + 1)
        self.gen.templates = templates.valid_requests()
        self.report = report
        self.grpc_share = grpc_share
        self.index = 0
        self.seed = seed
        self.methods = [m for m in agent_pb2.DESCRIPTOR.services_by_name["AgentService"].methods]
        self.ttrpc: Optional[PipelinedTtrpc] = None
        self.channel = None
        self.differential_budget = collections.Counter()

    # ---- requests ------------------------------------------------------------------------
    def next_item(self, transport: str) -> Item:
        rng = self.rng
        self.index += 1
        roll = rng.random()
        if roll < 0.03 and transport == "ttrpc":
            service, method = rpcgen.unknown_method(rng)
            payload = self.gen.damage(b"") if rng.random() < 0.5 else b""
            return Item(self.index, service, method, None, payload, self._timeout(method), True)
        if roll < 0.06:
            service, method, cls = rng.choice([
                ("grpc.Health", "Check", health_pb2.CheckRequest),
                ("grpc.Health", "Version", health_pb2.CheckRequest),
                ("grpc.health.v1.Health", "Check", health_pb2.CheckRequest)])
        else:
            weighted = [(m, 0.002 if m.name == "DestroySandbox" else 1.0) for m in self.methods]
            descriptor = rpcgen.pick(rng, weighted)
            service, method, cls = "grpc.AgentService", descriptor.name, descriptor.input_type._concrete_class
        request = self.gen.request(cls)
        try:
            data = request.SerializeToString()
        except Exception:  # noqa: BLE001 - python refuses some generated values (e.g. bad UTF-8)
            data = b""
        damaged = rng.random() < 0.12
        payload = self.gen.damage(data) if damaged else data
        return Item(self.index, service, method, request, payload, self._timeout(method), damaged)

    def _timeout(self, method: str) -> int:
        rng = self.rng
        roll = rng.random()
        if roll < 0.8:
            return rng.choice([50_000_000, 500_000_000, 2_000_000_000])
        if roll < 0.9 or method in LONG_POLL:
            return rng.choice([1, 1000, 1_000_000])
        return rng.choice([0, -1, 2**63 - 1, -2**63])

    # ---- connections ---------------------------------------------------------------------
    def connect(self) -> None:
        self.close()
        self.ttrpc = PipelinedTtrpc(str(self.agent.socket))
        import grpc
        self.channel = grpc.insecure_channel(f"unix:{self.agent.socket}")

    def close(self) -> None:
        if self.ttrpc is not None:
            self.ttrpc.close()
            self.ttrpc = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    # ---- batches -------------------------------------------------------------------------
    def run(self, requests: int, deadline: float) -> int:
        self.connect()
        sent = 0
        while sent < requests and time.monotonic() < deadline:
            transport = "grpc" if self.rng.random() < self.grpc_share else "ttrpc"
            count = min(BATCH, requests - sent)
            if transport == "ttrpc":
                sent += self.ttrpc_batch(count)
            else:
                sent += self.grpc_batch(count)
            if self.rng.random() < 0.3:
                self.abuse()
            self.check_alive()
            if sent // 10_000 != (sent - count) // 10_000:
                print(f"rpcfuzz: {sent} requests, deaths {self.report.deaths}, hangs {self.report.hangs}, "
                      f"failures {len(self.report.failures)}", flush=True)
        self.close()
        return sent

    def ttrpc_batch(self, count: int) -> int:
        in_flight: dict[int, Item] = {}
        done = 0
        pending = [self.next_item("ttrpc") for _ in range(count)]
        try:
            while pending or in_flight:
                while pending and len(in_flight) < WINDOW:
                    item = pending.pop(0)
                    if item.ends_the_agent:
                        self.drain(in_flight)
                        self.destroy(item)
                        done += 1
                        continue
                    item.sent = time.monotonic()
                    in_flight[self.ttrpc.send(item.service, item.method, item.payload, item.timeout_nano)] = item
                for stream, code, message in self.ttrpc.poll(0.5):
                    item = in_flight.pop(stream, None)
                    if item is not None:
                        done += 1
                        self.judge(item, "ttrpc", code, message)
                self.overdue(in_flight)
        except ConnectionLost as error:
            self.lost(f"ttrpc connection: {error}", in_flight)
            done += len(in_flight)
        return done + len(pending)

    def drain(self, in_flight: dict[int, Item]) -> None:
        while in_flight:
            for stream, code, message in self.ttrpc.poll(0.5):
                item = in_flight.pop(stream, None)
                if item is not None:
                    self.judge(item, "ttrpc", code, message)
            self.overdue(in_flight)

    def overdue(self, in_flight: dict[int, Item]) -> None:
        now = time.monotonic()
        for stream, item in list(in_flight.items()):
            if now - item.sent > item.limit:
                self.report.hangs += 1
                self.report.fail(f"hang: ttrpc {item.describe()} unanswered after {item.limit:.0f}s")
                del in_flight[stream]

    def judge(self, item: Item, transport: str, code: int, message: str) -> None:
        self.report.answered(item, transport, code, message)
        known = item.request is not None
        # Go resolves the method before it looks at the deadline; a short deadline may pass
        # before our server routes the call, and is then what it answers.
        if not known and code != 12 and not (code == 4 and item.timeout_nano <= 50_000_000):
            self.report.fail(f"{transport} {item.describe()}: unknown method answered {code} ({message}), "
                             "not UNIMPLEMENTED")
        if code == 0 and item.method in ("CreateContainer", "ExecProcess", "CreateSandbox") and not item.damaged:
            self.gen.remember(item.request)
        # The same refusal on the other protocol: one error mapping serves both.
        if transport == "ttrpc" and known and code in (3, 12) and item.timeout_nano >= 500_000_000 \
                and self.differential_budget[item.rpc] < 10:
            self.differential_budget[item.rpc] += 1
            self.differential(item, code, message)

    def differential(self, item: Item, code: int, message: str) -> None:
        import grpc
        self.report.differential_checks += 1
        call = self.channel.unary_unary(f"/{item.service}/{item.method}")
        try:
            call(item.payload, timeout=10)
            got_code, got_message = 0, ""
        except grpc.RpcError as error:
            got_code, got_message = error.code().value[0], error.details() or ""
        if (got_code, got_message) != (code, message):
            self.report.fail(f"differential: {item.describe()}: ttrpc {STATUS[code]} {message!r}, "
                             f"gRPC {got_code} {got_message!r}")

    def grpc_batch(self, count: int) -> int:
        """`count` calls through grpcio, WINDOW in flight, each judged as it completes."""
        import queue
        import grpc
        finished: "queue.Queue" = queue.Queue()
        in_flight: dict[int, tuple[Item, Any]] = {}
        pending = [self.next_item("grpc") for _ in range(count)]
        while pending or in_flight:
            while pending and len(in_flight) < WINDOW:
                if pending[0].ends_the_agent:
                    if in_flight:
                        break               # alone on the wire, once the others are in
                    self.destroy(pending.pop(0))
                    continue
                item = pending.pop(0)
                call = self.channel.unary_unary(f"/{item.service}/{item.method}")
                timeout = item.timeout_nano / 1e9 if item.timeout_nano > 0 else None
                item.sent = time.monotonic()
                future = call.future(item.payload, timeout=timeout)
                in_flight[item.index] = (item, future)
                future.add_done_callback(lambda f, index=item.index: finished.put(index))
            try:
                index = finished.get(timeout=0.5)
            except queue.Empty:
                index = None
            if index is not None and index in in_flight:
                item, future = in_flight.pop(index)
                try:
                    future.result(timeout=0)
                    self.judge(item, "grpc", 0, "")
                except grpc.RpcError as error:
                    code = error.code()
                    if not (code == grpc.StatusCode.UNAVAILABLE and self.agent.exit_status() is not None):
                        self.judge(item, "grpc", code.value[0], error.details() or "")
            now = time.monotonic()
            for index, (item, future) in list(in_flight.items()):
                if now - item.sent > item.limit:
                    future.cancel()
                    del in_flight[index]
                    self.report.hangs += 1
                    self.report.fail(f"hang: gRPC {item.describe()} unanswered after {item.limit:.0f}s")
        return count

    def destroy(self, item: Item) -> None:
        """DestroySandbox alone on the wire; an OK ends the agent, which is restarted."""
        try:
            code, message = self.ttrpc.call(item.service, item.method, item.payload, 10)
        except (ConnectionLost, TimeoutError) as error:
            self.lost(f"DestroySandbox: {error}", {})
            return
        self.judge(item, "ttrpc", code, message)
        if code != 0:
            return
        status = self.agent.wait_exit(30)
        if status != 0:
            self.report.deaths += 1
            self.report.fail(f"agent ended with {status} after DestroySandbox answered OK:\n{self.agent.log_tail()}")
        else:
            self.report.planned_restarts += 1
        self.agent.restart()
        self.gen.live_ids.clear()
        self.connect()

    def lost(self, what: str, in_flight: dict) -> None:
        status = self.agent.exit_status()
        if status is None:
            self.report.fail(f"{what} while the agent runs; in flight: " +
                             "; ".join(i.describe() for i in list(in_flight.values())[:4]))
        self.check_alive()
        self.connect()

    # ---- liveness ------------------------------------------------------------------------
    def check_alive(self) -> None:
        status = self.agent.exit_status()
        if status is not None:
            self.report.deaths += 1
            self.report.fail(f"agent died with status {status} near request #{self.index} (seed {self.seed}):\n"
                             f"{self.agent.log_tail()}")
            self.agent.restart()
            self.gen.live_ids.clear()
            self.connect()
            return
        try:
            probe = PipelinedTtrpc(str(self.agent.socket))
            try:
                code, message = probe.call("grpc.Health", "Check", health_pb2.CheckRequest().SerializeToString(), 5)
            finally:
                probe.close()
            if code != 0:
                self.report.fail(f"health check answered {STATUS[code]}: {message}")
        except (OSError, ConnectionLost, TimeoutError) as error:
            self.report.hangs += 1
            self.report.fail(f"health check on a fresh connection failed near request #{self.index}: {error}")

    # ---- frames no client should send ----------------------------------------------------
    def abuse(self) -> None:
        """A side connection with frames the protocol does not allow; the main one must not notice."""
        self.report.abuse_connections += 1
        rng = self.rng
        kind = self.report.abuse_connections % 8      # every kind in turn, even in a short run
        header = agentclient.TTRPC_HEADER
        check = agentclient.ttrpc_request("grpc.Health", "Check", b"")
        try:
            conn = PipelinedTtrpc(str(self.agent.socket))
        except OSError as error:
            self.report.fail(f"abuse connection refused: {error}")
            return
        try:
            if kind == 0:                            # even stream id: INVALID_ARGUMENT, connection kept
                conn.send_raw(header.pack(len(check), 2, 1, 0) + check)
                conn.next_stream = 3
                self._expect(conn, 2, 3, "even stream id")
                self._expect(conn, conn.send("grpc.Health", "Check", b"", 0), 0, "Check after an even id")
            elif kind == 1:                          # unknown frame type: skipped
                conn.send_raw(header.pack(5, 1, rng.choice([0, 3, 7, 0x7F, 0xFF]), rng.randrange(256)) + b"12345")
                conn.next_stream = 3
                self._expect(conn, conn.send("grpc.Health", "Check", b"", 0), 0, "Check after an unknown frame type")
            elif kind == 2:                          # a length beyond the limit, then nothing
                conn.send_raw(header.pack(rng.choice([(4 << 20) + 1, 0xFFFFFFFF]), 1, 1, 0) + b"x" * 100)
            elif kind == 3:                          # half a frame, then EOF
                conn.send_raw(header.pack(100, 1, 1, 0) + b"y" * rng.randrange(100))
            elif kind == 4:                          # garbage
                conn.send_raw(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 512))))
            elif kind == 5:                          # stream ids going backwards
                for stream in (5, 3, 1, 1):
                    conn.send_raw(header.pack(len(check), stream, 1, 0) + check)
            elif kind == 6:                          # an HTTP/2 preface, then junk
                conn.send_raw(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(rng.randrange(256) for _ in range(64)))
            else:                                    # many calls, then vanish without reading
                for _ in range(100):
                    conn.send("grpc.AgentService", "ReadStdout",
                              agent_pb2.ReadStreamRequest(container_id="c1", len=1024).SerializeToString(), 2**63 - 1)
            if kind >= 2 and rng.random() < 0.5:
                conn.sock.shutdown(socket.SHUT_WR)
                try:
                    conn.poll(0.2)
                except ConnectionLost:
                    pass
        except ConnectionLost:
            pass
        finally:
            conn.close()

    def _expect(self, conn: PipelinedTtrpc, stream: int, want: int, what: str) -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            for got, code, message in conn.poll(end - time.monotonic()):
                if got == stream:
                    if code != want:
                        self.report.fail(f"{what}: answered {STATUS[code]} ({message}), wanted {STATUS[want]}")
                    return
        self.report.fail(f"{what}: no answer in 10 s")


def run(binary: str, requests: int, seed: int, max_seconds: float, grpc_share: float = 0.4,
        keep_log: Optional[str] = None) -> dict[str, Any]:
    """Fuzz a fresh sandboxed agent; the summary as a dict (also what --json writes)."""
    report = Report()
    started = time.monotonic()
    with SandboxedAgent(binary) as agent:
        agent.start()
        fuzzer = Fuzzer(agent, seed, report, grpc_share)
        sent = fuzzer.run(requests, started + max_seconds)
        fuzzer.check_alive()
        traps = agent.log_lines_matching("Fatal error", "fatal error", "Trace/breakpoint", "SIGILL", "Illegal instruction")
        for line in traps[:5]:
            report.fail(f"agent log: {line}")
        elapsed = time.monotonic() - started
        if report.failures and keep_log:
            pathlib.Path(keep_log).write_bytes(agent.log_path.read_bytes())
        if sent < requests:
            report.fail(f"only {sent} of {requests} requests in {max_seconds:.0f}s")
        return {
            "seed": seed, "requests": sent, "seconds": round(elapsed, 1),
            "requests_per_second": round(sent / elapsed, 1) if elapsed else 0,
            "by_transport": dict(report.by_transport),
            "deaths": report.deaths, "hangs": report.hangs,
            "planned_restarts": report.planned_restarts, "agent_starts": agent.starts,
            "abuse_connections": report.abuse_connections,
            "differential_checks": report.differential_checks,
            "codes": dict(report.totals()),
            "per_rpc": {rpc: dict(c) for rpc, c in sorted(report.codes.items())},
            "per_rpc_mean_ms": {rpc: round(1000 * report.seconds[rpc] / sum(c.values()), 1)
                                for rpc, c in sorted(report.codes.items())},
            "internal_examples": dict(report.examples),
            "failures": report.failures,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--seed", type=int, default=None, help="default: from the clock, printed")
    parser.add_argument("--max-seconds", type=float, default=3600)
    parser.add_argument("--grpc-share", type=float, default=0.4, help="fraction of batches sent over gRPC")
    parser.add_argument("--agent", default=agentclient.agent_binary())
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args()
    if args.requests < 1 or args.max_seconds <= 0 or not 0 <= args.grpc_share <= 1:
        parser.error("--requests must be >= 1, --max-seconds > 0, --grpc-share in [0, 1]")
    # A TERM (timeout, CI cancel) unwinds through run()'s `with`, which kills the sandboxed agent.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seed = args.seed if args.seed is not None else int(time.time())
    print(f"rpcfuzz: seed {seed}, {args.requests} requests, agent {args.agent}", flush=True)
    keep_log = str(pathlib.Path(args.json).with_suffix(".agent.log")) if args.json else None
    summary = run(args.agent, args.requests, seed, args.max_seconds, args.grpc_share, keep_log)
    if args.json:
        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(f"rpcfuzz: {summary['requests']} requests in {summary['seconds']} s "
          f"({summary['requests_per_second']}/s), {summary['by_transport']}; deaths {summary['deaths']}, "
          f"hangs {summary['hangs']}, planned restarts {summary['planned_restarts']}, "
          f"abuse connections {summary['abuse_connections']}, differential checks {summary['differential_checks']}")
    print(f"rpcfuzz: codes {summary['codes']}")
    for rpc, examples in summary["internal_examples"].items():
        print(f"rpcfuzz: {rpc}: {examples[0]}")
    if summary["failures"]:
        print(f"rpcfuzz: {len(summary['failures'])} failures (first: {summary['failures'][0][:300]})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
