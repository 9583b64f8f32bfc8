"""The short soak in `make test` (the long one is `make soak`): 50 create/start/wait/remove
cycles, 100 execs 16 at a time, and the stream whose readers are killed or leave mid-ReadStdout,
against the debug agent on this host. After it, passed or failed, nothing carrying its tag may
be left: no process, mount, cgroup or /run entry."""

from __future__ import annotations

import glob
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import soakhost  # noqa: E402

SHORT = ["--cycles", "50", "--execs", "100", "--concurrency", "16", "--stream-mib", "4", "--leave-rounds", "24"]
# soak.py stops itself (and cleans up) at its own deadline, before the test's.
DEADLINE = 240
TEST_TIMEOUT = DEADLINE + 60


def _agent_binary() -> str:
    import agentclient
    return agentclient.agent_binary()


def _requirements() -> str | None:
    if os.geteuid() != 0:
        return "the soak needs root: it runs containers (namespaces, mounts, cgroups) on this host"
    if shutil.which("runc") is None:
        return "runc missing (apt-get install runc): the bundle's config.json comes from `runc spec`"
    if not os.path.isfile("/bin/busybox"):
        return "/bin/busybox missing (apt-get install busybox-static): the containers' rootfs"
    return None


def test_short_soak(tmp_path):
    why = _requirements()
    if why:
        pytest.skip(why)
    agent = _agent_binary()
    assert os.path.isfile(agent), f"no kata-agent at {agent}: run `make e2e-build` or set KATA_AGENT_BIN"
    tag = f"pysoak{os.getpid()}"
    summary = tmp_path / "soak.json"
    mounts_before = set(soakhost.mount_points(os.getpid()))
    argv = [sys.executable, str(HERE / "soak.py"), *SHORT, "--agent", agent, "--tag", tag,
            "--deadline", str(DEADLINE), "--json", str(summary)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = ""
    try:
        out, _ = proc.communicate(timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # soak.py cleans up on SIGTERM
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"soak.py ran over {TEST_TIMEOUT}s:\n{out}")
    finally:
        # Whatever happened, nothing of the run may stay on the host; what did is removed here
        # (and fails the test below).
        left = soakhost.leftovers(tag)
        if left:
            soakhost.cleanup(tag, f"/tmp/kata-{tag}-", mounts_before)
        for path in glob.glob(f"/tmp/kata-{tag}-*"):
            shutil.rmtree(path, ignore_errors=True)
    print(out)
    assert proc.returncode == 0, f"soak.py exited {proc.returncode}:\n{out}"
    assert not left, f"the soak left behind: {left}"
    result = json.loads(summary.read_text())
    assert result["ok"], result.get("failure")
    assert set(result["phases"]) == {"cycles", "execs", "stream"}, result["phases"].keys()
    assert result["phases"]["cycles"]["count"] == 50
    assert result["phases"]["execs"]["count"] == 100
    stream = result["phases"]["stream"]
    assert stream["left_mid_call"] > 0, "no client left in the middle of a ReadStdout"
    assert stream["killed_reader_bytes"] > 0, "the killed reader read nothing before it was killed"
