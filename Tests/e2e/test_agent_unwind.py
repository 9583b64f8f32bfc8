"""The agent as it ships has no unwind records for its Swift functions (tools/drop_swift_unwind.py),
keeps those of its C and C++ code, and still reports a malformed configuration file as an error.

No VM: the agent runs on the host. The Makefile hands the VM and hardening suites the rewritten
agent; when KATA_AGENT_BIN is a plain link (pytest run by hand), the tests rewrite it first.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import pytest
from agentclient import REPO, TtrpcClient, agent_binary, health_pb2
from conftest import require_root

sys.path.insert(0, str(REPO / "tools"))
import drop_swift_unwind as unwind  # noqa: E402

TOOL = REPO / "tools" / "drop_swift_unwind.py"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> pathlib.Path:
    """The agent under test in its shipped form."""
    binary = pathlib.Path(agent_binary())
    if not unwind.Elf(binary.read_bytes()).has_eh_frame_header:
        return binary
    out = tmp_path_factory.mktemp("unwind") / "kata-agent"
    result = subprocess.run([sys.executable, str(TOOL), str(binary), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def test_no_swift_function_keeps_an_unwind_record(shipped):
    data = shipped.read_bytes()
    assert not unwind.Elf(data).has_eh_frame_header, "PT_GNU_EH_FRAME is still there"
    names = unwind.function_symbols(data, unwind.Elf(data))
    starts = unwind.fde_starts(data)
    swift = [hex(a) for a in starts if a in names and all(unwind.is_swift(n) for n in names[a])]
    assert not swift, f"{len(swift)} Swift functions keep their FDE, e.g. {swift[:5]}"
    # Records that moved were re-encoded: each kept FDE that starts at a symbol starts at a C or
    # C++ function, among them the unwinder's own.
    covered = {n for a in starts if a in names for n in names[a]}
    assert any(n == b"_Unwind_RaiseException" for n in covered)


def test_a_malformed_toml_config_is_one_clear_error(shipped, tmp_path):
    # The error is the parser's, in Swift; with TOMLKit it was a C++ exception that needed the
    # records this rewrite keeps.
    config = tmp_path / "agent.toml"
    config.write_text('server_addr = "unix:///nonexistent.sock"\nlog_level = [unclosed\n')
    result = subprocess.run([str(shipped), "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "not valid TOML" in result.stdout + result.stderr


def test_the_shipped_agent_serves(shipped, tmp_path):
    require_root("the agent runs on the host as root, as the benchmarks run it")
    sock = tmp_path / "agent.sock"
    log = open(tmp_path / "agent.log", "wb")
    env = dict(os.environ, KATA_AGENT_SERVER_ADDR=f"unix://{sock}", KATA_AGENT_LOG_LEVEL="info")
    proc = subprocess.Popen([str(shipped)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = TtrpcClient(sock)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()
            try:
                client.connect()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the agent did not listen within 30 s:\n" + (tmp_path / "agent.log").read_text())
                time.sleep(0.01)
        assert client.call("Check", health_pb2.CheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
        assert client.call("Version", health_pb2.CheckRequest(), timeout=10).agent_version
    finally:
        client.close()
        proc.kill()
        proc.wait(timeout=30)
        log.close()


def test_the_tool_refuses_what_it_cannot_rewrite(shipped, tmp_path):
    out = tmp_path / "out"
    # Already rewritten: nothing to cut, nothing written.
    result = subprocess.run([sys.executable, str(TOOL), str(shipped), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and not out.exists(), (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
    not_elf = tmp_path / "script"
    not_elf.write_text("#!/bin/sh\n")
    result = subprocess.run([sys.executable, str(TOOL), str(not_elf), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and not out.exists()
    assert "not a 64-bit little-endian ELF file" in result.stderr
