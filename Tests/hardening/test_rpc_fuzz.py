"""The short RPC fuzz run of `make test` (the long one is `make fuzz-rpc`), and checks that the
fuzzer notices what it is there to notice."""

from __future__ import annotations

import os
import signal

import pytest

import agentclient
import rpcfuzz
import rpcgen
from sandboxed_agent import SandboxedAgent, sandbox_available

REQUESTS = int(os.environ.get("RPCFUZZ_REQUESTS", "3000"))
# A fixed seed keeps `make test` reproducible; RPCFUZZ_SEED explores others.
SEED = int(os.environ.get("RPCFUZZ_SEED", "20261206"))


@pytest.fixture(scope="module")
def sandbox():
    reason = sandbox_available()
    if reason:
        pytest.skip(reason)


def test_generator_builds_every_request_and_damages_bytes():
    gen = rpcgen.Generator(1)
    gen.templates = __import__("templates").valid_requests()
    service = agentclient.agent_pb2.DESCRIPTOR.services_by_name["AgentService"]
    assert len(service.methods) == 42
    for method in service.methods:
        for _ in range(20):
            request = gen.request(method.input_type._concrete_class)
            assert isinstance(request.SerializeToString(), bytes)
    data = b"\x0a\x02c1"
    assert any(gen.damage(data) != data for _ in range(20))


def test_fuzz_short_run_has_no_death_hang_or_mismatch(sandbox):
    summary = rpcfuzz.run(agentclient.agent_binary(), REQUESTS, SEED, max_seconds=900)
    print({k: summary[k] for k in ("requests", "seconds", "by_transport", "codes", "planned_restarts",
                                   "abuse_connections", "differential_checks")})
    assert summary["requests"] == REQUESTS
    assert summary["deaths"] == 0 and summary["hangs"] == 0, summary["failures"][:5]
    assert not summary["failures"], summary["failures"][:5]
    # Both transports and the protocol-abuse connections were exercised.
    assert summary["by_transport"].get("ttrpc", 0) > 0 and summary["by_transport"].get("grpc", 0) > 0
    assert summary["abuse_connections"] > 0 and summary["differential_checks"] > 0


def test_fuzzer_reports_a_killed_agent(sandbox):
    """The death check works: an agent killed under the fuzzer is a failure, and is restarted."""
    report = rpcfuzz.Report()
    with SandboxedAgent(agentclient.agent_binary()) as agent:
        agent.start()
        fuzzer = rpcfuzz.Fuzzer(agent, 7, report)
        fuzzer.connect()
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait_exit(30)
        fuzzer.check_alive()
        fuzzer.close()
        assert report.deaths == 1 and agent.starts == 2
        assert any("died" in line for line in report.failures)


def test_fuzzer_flags_a_wrong_answer_to_an_unknown_method():
    report = rpcfuzz.Report()
    fuzzer = rpcfuzz.Fuzzer.__new__(rpcfuzz.Fuzzer)
    fuzzer.report, fuzzer.gen, fuzzer.differential_budget = report, rpcgen.Generator(1), {}
    item = rpcfuzz.Item(1, "grpc.Nope", "Nope", None, b"", 2_000_000_000, True)
    fuzzer.judge(item, "ttrpc", 0, "")
    assert report.failures and "not UNIMPLEMENTED" in report.failures[0]
    fuzzer.judge(item, "ttrpc", 99, "")
    assert any("not a google.rpc.Code" in line for line in report.failures)
