"""The kata-agent as an ordinary process for benchmarks, and the gRPC stubs to drive it.

Runs with Debian's python3 (its grpcio and protobuf); messages are generated from protos/ at
run time into a gitignored cache.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def load_stubs():
    """(agent_pb2, health_pb2, oci_pb2, agent stub factory, health stub factory).

    The messages come from the e2e suite's generator (Tests/e2e/agentclient.py), which knows
    which protoc this machine's python3-protobuf needs; one generator serves both.
    """
    e2e = os.path.join(ROOT, "Tests", "e2e")
    if e2e not in sys.path:
        sys.path.insert(0, e2e)
    import agentclient

    def agent_stub(channel):
        return agentclient.Stub(channel, agentclient.agent_pb2.DESCRIPTOR.services_by_name["AgentService"])

    def health_stub(channel):
        return agentclient.Stub(channel, agentclient.health_pb2.DESCRIPTOR.services_by_name["Health"])

    return agentclient.agent_pb2, agentclient.health_pb2, agentclient.oci_pb2, agent_stub, health_stub


class AgentProcess:
    """The kata-agent as an ordinary process on a unix socket; always killed on exit."""

    def __init__(self, binary: str, health_stub_factory, health_pb2, deadline: float = 30.0, env: dict | None = None):
        self.binary = binary
        self.extra_env = env or {}
        self.dir = tempfile.mkdtemp(prefix="kata-bench-")
        self.socket = os.path.join(self.dir, "agent.sock")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.deadline = deadline
        self._health_stub_factory = health_stub_factory
        self._health_pb2 = health_pb2
        self.proc = None
        self.channel = None

    @property
    def address(self) -> str:
        return "unix://" + self.socket

    def start(self, protocol: str = "grpc") -> float:
        """Starts the agent; returns ms from exec to the first answered Health.Check, asked
        over `protocol` ("grpc" through grpcio, "ttrpc" as one raw frame, as runtimes speak it).
        The gRPC channel is kept for later calls either way."""
        import grpc

        # warn keeps logging out of the figures; KATA_AGENT_LOG_LEVEL overrides it for diagnosis.
        env = dict(os.environ, KATA_AGENT_SERVER_ADDR=self.address,
                   KATA_AGENT_LOG_LEVEL=os.environ.get("KATA_AGENT_LOG_LEVEL", "warn"), **self.extra_env)
        log = open(self.log_path, "wb")
        start = time.perf_counter()
        self.proc = subprocess.Popen([self.binary], env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        end = start + self.deadline
        # Polling is the measurement here: the first moment a Check is answered.
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}: {self.log()}")
            if os.path.exists(self.socket) and protocol == "ttrpc":
                if _ttrpc_check(self.socket):
                    elapsed = (time.perf_counter() - start) * 1000.0
                    self.channel = grpc.insecure_channel(self.address)
                    return elapsed
            elif os.path.exists(self.socket):
                channel = grpc.insecure_channel(self.address)
                try:
                    stub = self._health_stub_factory(channel)
                    stub.Check(self._health_pb2.CheckRequest(), timeout=1.0)
                    self.channel = channel
                    return (time.perf_counter() - start) * 1000.0
                except grpc.RpcError:
                    channel.close()
            if time.perf_counter() > end:
                log = self.log()
                self.stop()
                raise RuntimeError(f"agent did not serve within {self.deadline}s: {log}")
            time.sleep(0.0005)

    def rss_kib(self, field: str = "VmRSS") -> int:
        """`field` of /proc/<pid>/status now, in KiB: VmRSS, or its parts RssAnon (the agent's
        own memory) and RssFile (mapped pages of its binary, shared with the page cache). The
        gRPC channel kept by start() has made no call since."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"no {field} for the agent")

    def zygote_memory_kib(self) -> dict | None:
        """smaps_rollup's Rss, Anonymous and Pss_Shmem in KiB of the agent's init zygote (its
        child `kata-agent init-zygote`), if any."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid != self.proc.pid:
                    continue
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if not f.read().startswith(b"kata-agent\0init-zygote"):
                        continue
                fields = {}
                with open(f"/proc/{entry}/smaps_rollup") as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) >= 2 and parts[0] in ("Rss:", "Anonymous:", "Pss_Shmem:"):
                            fields[parts[0].rstrip(":")] = int(parts[1])
                return fields if len(fields) == 3 else None
            except (OSError, ValueError, IndexError, KeyError):
                continue
        return None

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        # Its socket and log; a failure's log has been read into the exception by now.
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _ttrpc_check(socket_path: str) -> bool:
    """One grpc.Health/Check over ttrpc (the e2e suite's client) on a fresh connection: True
    when answered SERVING."""
    import agentclient

    client = agentclient.TtrpcClient(socket_path)
    try:
        reply = client.call("Check", agentclient.health_pb2.CheckRequest(), timeout=1.0)
        return reply.status == agentclient.health_pb2.HealthCheckResponse.SERVING
    except agentclient.RpcFailed:
        return False
    finally:
        client.close()
