"""The agent as PID 1 of an osbuilder initrd, driven over the guest's channel with ttrpc as Kata
runtimes speak it: the scenario once through kata-agent-ctl (minimal template) and once
through agentclient's Python ttrpc client (busybox template). gRPC keeps its VM coverage in
test_serial_reconnect.py (grpcio).

One guest per class run; the steps run in order against it and each reports on its own, so a
feature not built yet fails its own step (the rest still run where they can).
"""

from __future__ import annotations

import pathlib
import signal

import pytest

import agentclient as ac
import guests
import scenario as sc
from agentclient import agent_pb2 as pb, health_pb2
from conftest import require_root

CID = "ctr1"

# (recipe, client, kernel parameters, debug console kind). The minimal guest gets busybox as
# /bin/sh and kata-agent-ctl in the container rootfs so that its debug console on vsock 1026
# can be reached through vsock loopback by a client inside the guest (which
# agent.debug_vsock_loopback allows; test_container_escape checks it is refused without); the busybox guest's
# console is the serial one (vport 0). The two also differ in cgroup mode (v1, v2).
COMBOS = [
    pytest.param((guests.GuestRecipe("minimal", with_ctl=True, with_sh=True), "kata-agent-ctl",
                  f"agent.debug_console agent.debug_console_vport={guests.CONSOLE_VPORT} "
                  "agent.debug_vsock_loopback", "vsock"),
                 id="minimal-ctl"),
    pytest.param((guests.GuestRecipe("busybox"), "ttrpc",
                  "agent.debug_console systemd.unified_cgroup_hierarchy=1", "serial"),
                 id="busybox-ttrpc"),
]


class Booted:
    """The class's guest; a failed boot is reported in full by test_01 and briefly by the rest."""

    def __init__(self, guest, client, console, boot_error: BaseException | None = None):
        self._guest, self._client, self.console = guest, client, console
        self.boot_error = boot_error
        self.state: dict[str, object] = {}

    def _booted(self) -> None:
        if self.boot_error is not None:
            first = str(self.boot_error).splitlines()[0] if str(self.boot_error) else ""
            pytest.fail(f"the guest did not boot to a ready agent ({type(self.boot_error).__name__}: "
                        f"{first}); full console in test_01_health_check", pytrace=False)

    @property
    def guest(self):
        self._booted()
        return self._guest

    @property
    def client(self):
        self._booted()
        return self._client

    def need(self, key: str) -> None:
        if key not in self.state:
            pytest.fail(f"an earlier step did not complete: {key} (see its failure above)")


@pytest.fixture(scope="class", params=COMBOS)
def booted(request, kernel, tmp_path_factory):
    require_root("QEMU guests and initrd device nodes")
    recipe, client_kind, append, console = request.param
    initrd = guests.build(recipe, kernel)
    name = f"{recipe.template}-{client_kind}"
    workdir = tmp_path_factory.mktemp(name)
    try:
        guest, client, _ = guests.boot_agent(guests.initrd_spec(kernel, initrd, name, append),
                                             workdir, client_kind)
    except Exception as error:  # noqa: BLE001 - reported by the tests that need the guest
        yield Booted(None, None, console, boot_error=error)
        return
    try:
        yield Booted(guest, client, console)
    finally:
        client.close()
        guest.kill()


def guard(b: Booted):
    """Wraps a step: an RPC failure carries the guest console tail."""
    class _Guard:
        def __enter__(self):
            return self

        def __exit__(self, exc_type, exc, tb):
            if exc_type is ac.RpcFailed:
                raise b.guest.fail(str(exc)) from exc
            return False
    return _Guard()


class TestAgentInitrd:
    def test_01_health_check(self, booted):
        if booted.boot_error is not None:
            raise booted.boot_error
        reply = booted.client.call("Check", health_pb2.CheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        version = booted.client.call("Version", health_pb2.CheckRequest())
        assert version.agent_version

    def test_02_guest_details(self, booted):
        with guard(booted):
            reply = booted.client.call("GetGuestDetails", pb.GuestDetailsRequest(
                mem_block_size=True, mem_hotplug_probe=True))
        assert reply.mem_block_size_bytes > 0 and reply.mem_block_size_bytes % 4096 == 0
        assert reply.agent_details.version

    def test_03_create_sandbox_loads_kernel_module(self, booted):
        with guard(booted):
            sc.create_sandbox(booted.client)
        booted.state["sandbox"] = True

    def test_04_create_start_container(self, booted):
        """The init installs busybox's applet links into the container rootfs (the extra file
        is the bare binary) and then says so on stdout, which every later step relies on."""
        booted.need("sandbox")
        c = booted.client
        with guard(booted):
            sc.create_container(c, CID, [sc.BB, "sh", "-c", sc.INIT_SCRIPT])
            c.call("StartContainer", pb.StartContainerRequest(container_id=CID))
            seen = b""
            while b"\n" not in seen:
                # exec_id "" names the init in upstream and here; test_04b checks the other name.
                reply = c.call("ReadStdout", pb.ReadStreamRequest(container_id=CID, exec_id="", len=64))
                if not reply.data:
                    break
                seen += reply.data
        assert seen == b"init-started\n", seen
        booted.state["container"] = True

    def test_04b_init_answers_to_its_create_exec_id(self, booted):
        """The Kata runtime names a container's init by the exec_id it gave CreateContainer
        (the container id); upstream's agent finds the init under that id as well as ""."""
        booted.need("container")
        with guard(booted):
            # SIGCONT: harmless to a sleeping init (signal 0 is refused by upstream and here).
            booted.client.call("SignalProcess", pb.SignalProcessRequest(
                container_id=CID, exec_id=CID, signal=int(signal.SIGCONT)))

    def test_05_module_parameter_visible(self, booted, kernel):
        booted.need("container")
        name, param, value = guests.ON_DEMAND_MODULE
        if not kernel.loadable([name]):
            pytest.skip(f"{name} is built into this kernel: its parameters are set at boot "
                        "(test_debian_kernel.py loads it as a module with a parameter)")
        with guard(booted):
            status, out, err = sc.run(booted.client, CID, "modparam", f"cat /sys/module/{name}/parameters/{param}")
        assert (status, out.strip()) == (0, value), err

    def test_06_sysctls_applied(self, booted):
        booted.need("container")
        script = "; ".join(f"echo {k}=$(cat /proc/sys/{k.replace('.', '/')})" for k in sc.SYSCTLS)
        with guard(booted):
            status, out, err = sc.run(booted.client, CID, "sysctls", script)
        assert status == 0, err
        assert out.split() == [f"{k}={v}" for k, v in sc.SYSCTLS.items()]

    def test_07_memory_limit(self, booted):
        booted.need("container")
        with guard(booted):
            status, out, err = sc.run(booted.client, CID, "memlimit", sc.MEMORY_LIMIT_SCRIPT)
        assert (status, out.strip()) == (0, str(sc.MEMORY_LIMIT)), err

    def test_08_guest_prestart_hook_ran(self, booted):
        booted.need("container")
        with guard(booted):
            status, out, err = sc.run(booted.client, CID, "hook", "cat /hook-ran")
        assert status == 0, err
        assert out.startswith("prestart ") and f'"id":"{CID}"' in out.replace(" ", ""), out

    def test_09_exec_stdio_round_trip(self, booted):
        booted.need("container")
        c = booted.client
        with guard(booted):
            sc.exec_process(c, CID, "cat", [sc.BB, "cat"])
            payload = b"ping from the host\n" * 100
            written = 0
            while written < len(payload):
                written += c.call("WriteStdin", pb.WriteStreamRequest(
                    container_id=CID, exec_id="cat", data=payload[written:])).len
            c.call("CloseStdin", pb.CloseStdinRequest(container_id=CID, exec_id="cat"))
            echoed = sc.read_all(c, "ReadStdout", CID, "cat")
            status = sc.wait(c, CID, "cat")
        assert echoed == payload
        assert status == 0

    def test_10_debug_console(self, booted):
        """Type a command into the guest's debug console and read its output: on the serial
        console (vport 0), or on vsock 1026 through vsock loopback from kata-agent-ctl running
        inside the guest (in a container exec)."""
        # The shell's echo of the typed line shows o''k-$((6*7)), never ok-42.
        command = "echo o''k-$((6*7))"
        guest = booted.guest
        if booted.console == "serial":
            offset = guest.console_offset()
            def typed():
                start = guest.console_offset()
                guest.type(command + "\n")
                try:
                    return guest.wait_console(r"ok-42", timeout=5, start=start)
                except AssertionError:
                    return None
            guest.wait_until("debug console answering on the serial console", typed, timeout=60, interval=0)
            assert "ok-42" in guest.console_text()[offset:]
            return
        booted.need("container")
        with guard(booted):
            status, out, err = sc.run(
                booted.client, CID, "console-client",
                [f"/bin/{pathlib.Path(guests.GUEST_CTL).name}", *guests.CONSOLE_CLIENT_ARGS],
                stdin=f"{command}\nexit\n".encode())
        assert "ok-42" in out, f"status {status}\nstdout: {out}\nstderr: {err}"

    def test_11_signal_process(self, booted):
        booted.need("container")
        c = booted.client
        with guard(booted):
            sc.exec_process(c, CID, "sleeper", [sc.BB, "sleep", "100000"])
            c.call("SignalProcess", pb.SignalProcessRequest(container_id=CID, exec_id="sleeper",
                                                            signal=int(signal.SIGTERM)))
            status = sc.wait(c, CID, "sleeper")
        assert status == 128 + signal.SIGTERM

    def test_12_remove_container(self, booted):
        booted.need("container")
        c = booted.client
        with guard(booted):
            c.call("SignalProcess", pb.SignalProcessRequest(container_id=CID, exec_id="", signal=int(signal.SIGKILL)))
            assert sc.wait(c, CID, "") == 128 + signal.SIGKILL
            c.call("RemoveContainer", pb.RemoveContainerRequest(container_id=CID, timeout=30))
        with pytest.raises(ac.RpcFailed):
            sc.exec_process(c, CID, "after-remove", [sc.BB, "true"])

    def test_13_destroy_sandbox_powers_off(self, booted):
        with guard(booted):
            try:
                booted.client.call("DestroySandbox", pb.DestroySandboxRequest(), timeout=30)
            except ac.RpcFailed as error:
                # The guest may power off before the reply makes it out; that is success too.
                # Over ttrpc the connection can close (UNAVAILABLE) a moment before QEMU exits,
                # so that answer is judged by the exit below, not by `running` right now.
                if booted.guest.running and error.code != "UNAVAILABLE":
                    raise
                print(f"DestroySandbox reply lost to the power-off: {error}")
        assert booted.guest.wait_exit(timeout=30) == 0
        assert "reboot: Power down" in booted.guest.console_text()


def test_containers_run_from_a_read_only_bind_of_the_agent_on_an_initrd(kernel, tmp_path):
    """On an initrd guest the root switch leaves the agent binary at its names as bind mounts
    of the running inode, made read-only: the init zygote (and the inits it clones) run from
    one of them, so a write through their /proc/<pid>/exe fails with EROFS, and no 28 MB sealed
    memfd copy of the binary is made."""
    require_root("QEMU guests and initrd device nodes")
    initrd = guests.build(guests.GuestRecipe("busybox"), kernel)
    guest, client, _ = guests.boot_agent(guests.initrd_spec(kernel, initrd, "busybox-ro-exe"), tmp_path, "ttrpc")
    try:
        try:
            client.call("CreateSandbox", pb.CreateSandboxRequest(hostname="initrd", sandbox_id="initrd"))
            sc.create_on_read_only_guest(client, "probe", [sc.BB, "sleep", "100000"])
            client.call("StartContainer", pb.StartContainerRequest(container_id="probe"))
            # Command substitution drops the NULs between arguments: "kata-agentinit-zygote".
            script = "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(readlink $p/exe) $(cat $p/cmdline)\"; done"
            status, out, err = sc.run(client, "probe", "exes", script)
        except ac.RpcFailed as error:
            raise guest.fail(str(error)) from error
        assert status == 0, err
        rows = [line.split(" ", 2) for line in out.splitlines() if line.count(" ") >= 2]
        assert not [row for row in rows if "memfd:" in row[1]], f"a sealed copy was made:\n{out}"
        zygotes = [row for row in rows if "init-zygote" in row[2]]
        assert zygotes, f"no init zygote:\n{out}"
        pid, exe = zygotes[0][0], zygotes[0][1]
        status, out, err = sc.run(client, "probe", "mounts", [sc.BB, "cat", f"/proc/{pid}/mountinfo"])
        assert status == 0, err
        # mountinfo: id parent major:minor root mount-point options ...
        mounts = [line.split() for line in out.splitlines()]
        bound = [fields for fields in mounts if len(fields) > 5 and fields[4] == exe]
        assert bound, f"{exe} is not a mount point of the agent's namespace:\n{out}"
        assert "ro" in bound[-1][5].split(","), f"{exe} is mounted writable: {' '.join(bound[-1])}"
    finally:
        client.close()
        guest.kill()
