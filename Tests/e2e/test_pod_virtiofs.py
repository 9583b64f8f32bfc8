"""A Kata pod over virtio-fs, replayed request by request as the Go runtime sends it
(../shared/RUNTIME-SEQUENCE.md section 7, QEMU defaults, one k8s container).

The host side is what containerd-shim-kata-v2 builds: Debian qemu's virtiofsd shares a host
directory as tag kataShared; the pause and app rootfs live in it as <id>/rootfs, and every k8s
bind mount (hosts, hostname, resolv.conf, termination-log, a configMap) is a file or directory
<cid>-<16 hex>-<name> beside them. One ttrpc connection carries everything, with the requests
the runtime leaves pending (GetOOMEvent, the pause's WaitProcess, the app's ReadStdout and
ReadStderr loops, a Health.Check every 5 s) outstanding while the rest goes on.

Steps run in order in one guest and report on their own. `bench:` lines give the
CreateContainer time with a virtio-fs rootfs.
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any, Optional

import pytest

import agentclient as ac
import guests
import scenario as sc
from agentclient import agent_pb2 as pb, health_pb2, oci_pb2 as oci
from conftest import require_root
from vm import BootSpec

import csi_pb2  # noqa: E402 - generated beside agent_pb2 by agentclient

VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
# fuse + virtiofs: modules of the Debian cloud kernel, built into the kata kernel.
VIRTIOFS_MODULES = ["fuse", "virtiofs"]

SHARED = "/run/kata-containers/shared/containers"
SHM = "/run/kata-containers/sandbox/shm"
WATCHABLE = f"{SHARED}/watchable"
SANDBOX = "pod-sandbox-0001"
APP = "app-container-0001"
HEX = "0123456789abcdef"
CONFIG_NAME = f"{APP}-{HEX}-config"
TERMINATION_PATH = "/dev/termination-log"
INOTIFY_PROBE = pathlib.Path(__file__).resolve().parent / "probes" / "inotify_watch.c"


class MuxTtrpc:
    """A ttrpc client that, like containerd/ttrpc's, multiplexes: calls are sent at once and
    answered by stream id, so requests left pending do not hold up the others."""

    GRACE = 5.0

    def __init__(self, path: pathlib.Path):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._sock.connect(str(path))
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[str, concurrent.futures.Future]] = {}
        self._next = 1
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="ttrpc-reader", daemon=True)
        self._reader.start()

    def start(self, rpc: str, request: Any, timeout: float = 60) -> concurrent.futures.Future:
        """Sends `rpc` now; the future holds the reply or raises RpcFailed. timeout 0: no deadline."""
        service, method = ac._method_path(rpc)
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise ac.RpcFailed(rpc, "UNAVAILABLE", "connection closed")
            stream = self._next
            self._next += 2
            self._pending[stream] = (method, future)
            body = ac.ttrpc_request(service, method, request.SerializeToString(), int(timeout * 1e9))
            self._sock.sendall(ac.TTRPC_HEADER.pack(len(body), stream, ac.TTRPC_REQUEST, 0) + body)
        return future

    def call(self, rpc: str, request: Any, timeout: float = 60) -> Any:
        return self.start(rpc, request, timeout).result(timeout + self.GRACE if timeout else None)

    def _read(self) -> None:
        buffer = bytearray()
        error = "connection closed by the agent"
        try:
            while True:
                while len(buffer) >= ac.TTRPC_HEADER.size:
                    length, stream, kind, _ = ac.TTRPC_HEADER.unpack_from(buffer)
                    end = ac.TTRPC_HEADER.size + length
                    if len(buffer) < end:
                        break
                    body = bytes(buffer[ac.TTRPC_HEADER.size:end])
                    del buffer[:end]
                    if kind != ac.TTRPC_RESPONSE:
                        continue
                    with self._lock:
                        entry = self._pending.pop(stream, None)
                    if entry is None:
                        continue
                    method, future = entry
                    code, message, payload = ac.ttrpc_response(body)
                    if code != 0:
                        name = ac.STATUS_NAMES[code] if 0 <= code < len(ac.STATUS_NAMES) else f"CODE_{code}"
                        future.set_exception(ac.RpcFailed(method, name, message))
                    else:
                        future.set_result(ac.response_type(method).FromString(payload))
                chunk = self._sock.recv(1 << 16)
                if not chunk:
                    break
                buffer += chunk
        except OSError as exc:
            error = str(exc)
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, {}
        for method, future in pending.values():
            future.set_exception(ac.RpcFailed(method, "UNAVAILABLE", error))

    def close(self) -> None:
        with self._lock:
            self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


def _busybox_rootfs(root: pathlib.Path, marker: str) -> None:
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "config"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(guests.BUSYBOX, root / "bin" / "busybox")
    (root / "marker").write_text(marker)


def _share(share: pathlib.Path) -> dict[str, pathlib.Path]:
    """The shared directory as the Go runtime lays it out (vc/fs_share_linux.go)."""
    _busybox_rootfs(share / SANDBOX / "rootfs", "pause rootfs on virtio-fs\n")
    _busybox_rootfs(share / APP / "rootfs", "app rootfs on virtio-fs\n")
    shutil.copy2(guests.static_probe(INOTIFY_PROBE), share / APP / "rootfs" / "bin" / "inotify-watch")
    files = {
        "sandbox-resolv": share / f"{SANDBOX}-{HEX}-resolv.conf",
        "hosts": share / f"{APP}-{HEX}-hosts",
        "hostname": share / f"{APP}-{HEX}-hostname",
        "resolv": share / f"{APP}-{HEX}-resolv.conf",
        "termination": share / f"{APP}-{HEX}-termination-log",
        "config": share / CONFIG_NAME,
    }
    files["sandbox-resolv"].write_text("nameserver 10.96.0.10\n")
    files["hosts"].write_text("127.0.0.1 localhost\n10.244.1.5 app-pod\n")
    files["hostname"].write_text("app-pod\n")
    files["resolv"].write_text("search default.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n")
    files["termination"].write_text("")
    files["config"].mkdir()
    (files["config"] / "app.properties").write_text("color=blue\n")
    (files["config"] / "mode").write_text("production\n")
    return files


def _bind(destination: str, source: str, ro: bool = False) -> oci.Mount:
    return oci.Mount(destination=destination, source=source, type="bind",
                     options=["rbind", "rprivate"] + (["ro"] if ro else []))


def _spec(container_id: str, args: list[str], mounts: list[oci.Mount], annotations: dict[str, str]) -> oci.Spec:
    spec = sc.container_spec(container_id, args, limits=False)
    spec.Root.Path = f"{SHARED}/{container_id}/rootfs"
    # /proc/1 in the container is the agent, whose mount table the steps check.
    sc.in_agent_pid_namespace(spec)
    spec.Mounts.extend(mounts)
    for key, value in annotations.items():
        spec.Annotations[key] = value
    return spec


class Pod:
    def __init__(self, guest=None, client: Optional[MuxTtrpc] = None, files=None, error=None):
        self.guest, self.client, self.files, self.error = guest, client, files, error
        self.state: dict[str, Any] = {}
        self.background: dict[str, concurrent.futures.Future] = {}
        self.health_stop = threading.Event()
        self.health_checks = 0
        self.health_answered = threading.Event()

    def need(self, key: str) -> None:
        if self.error is not None:
            pytest.fail(f"the guest did not boot to a ready agent: {str(self.error).splitlines()[0]}", pytrace=False)
        if key and key not in self.state:
            pytest.fail(f"an earlier step did not complete: {key}")

    def call(self, rpc: str, request, timeout: float = 60):
        try:
            return self.client.call(rpc, request, timeout)
        except ac.RpcFailed as error:
            raise self.guest.fail(str(error)) from error

    def exec(self, exec_id: str, script: str, timeout: float = 60) -> str:
        """An exec probe in the app container: (stdout) of `sh -c script`, status 0 required."""
        self.call("ExecProcess", pb.ExecProcessRequest(container_id=APP, exec_id=exec_id,
                                                       process=sc.process([sc.BB, "sh", "-c", script])))
        out = self._read_all("ReadStdout", exec_id)
        err = self._read_all("ReadStderr", exec_id)
        status = self.call("WaitProcess", pb.WaitProcessRequest(container_id=APP, exec_id=exec_id), timeout).status
        assert status == 0, f"{script!r} exited {status}: {out} {err}"
        return out

    def _read_all(self, rpc: str, exec_id: str) -> str:
        data = b""
        while True:
            reply = self.call(rpc, pb.ReadStreamRequest(container_id=APP, exec_id=exec_id, len=32768), timeout=0)
            if not reply.data:
                return data.decode(errors="replace")
            data += reply.data

    def update_resources(self) -> None:
        """vc/sandbox.go updateResources after every app create/start (section 1.2 steps 10-11)."""
        started = time.monotonic()
        self.call("OnlineCPUMem", pb.OnlineCPUMemRequest(wait=False, nb_cpus=0, cpu_only=False))
        self.call("UpdateEphemeralMounts", pb.UpdateEphemeralMountsRequest(storages=[]))
        return time.monotonic() - started

    def health_loop(self) -> None:
        while not self.health_stop.wait(5):
            try:
                self.client.call("Check", health_pb2.CheckRequest(), 30)
                self.health_checks += 1
                self.health_answered.set()
            except ac.RpcFailed:
                return


@pytest.fixture(scope="class")
def pod(kernel, tmp_path_factory):
    require_root("QEMU guests and virtiofsd")
    if not os.access(VIRTIOFSD, os.X_OK):
        pytest.skip(f"{VIRTIOFSD} is missing (Debian's qemu-system-common ships it)")
    workdir = tmp_path_factory.mktemp("pod-virtiofs")
    share = workdir / "share"
    files = _share(share)
    sockdir = pathlib.Path(tempfile.mkdtemp(prefix="vfs-", dir="/tmp"))
    vfs_socket = sockdir / "virtiofsd.sock"
    vfs_log = open(workdir / "virtiofsd.log", "wb")
    virtiofsd = subprocess.Popen(
        ["timeout", "--signal=KILL", "1800", VIRTIOFSD, f"--socket-path={vfs_socket}", "-o", f"source={share}",
         "-o", "cache=auto", "-o", "sandbox=chroot"],
        stdout=vfs_log, stderr=subprocess.STDOUT)
    guest = None
    try:
        deadline = time.monotonic() + 30
        while not vfs_socket.exists():
            if virtiofsd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"virtiofsd did not listen: {(workdir / 'virtiofsd.log').read_text()[-2000:]}")
            time.sleep(0.05)
        recipe = guests.GuestRecipe("busybox", extra_modules=tuple(kernel.loadable(VIRTIOFS_MODULES)))
        initrd = guests.build(recipe, kernel)
        spec = guests.initrd_spec(kernel, initrd, "pod-virtiofs")
        extra = ["-object", f"memory-backend-memfd,id=mem,size={guests.GUEST_MEMORY},share=on",
                 "-numa", "node,memdev=mem",
                 "-chardev", f"socket,id=vfs,path={vfs_socket}",
                 "-device", "vhost-user-fs-pci,chardev=vfs,tag=kataShared"]
        spec = BootSpec(**{**spec.__dict__, "extra_args": extra})
        guest, ready_client, _ = guests.boot_agent(spec, workdir, "ttrpc")
        ready_client.close()
        client = MuxTtrpc(guest.agent_socket)
    except Exception as error:  # noqa: BLE001 - reported by every step
        if guest is not None:
            guest.kill()
        virtiofsd.kill()
        virtiofsd.wait()
        vfs_log.close()
        shutil.rmtree(sockdir, ignore_errors=True)
        yield Pod(error=error)
        return
    pod = Pod(guest, client, files)
    try:
        yield pod
    finally:
        pod.health_stop.set()
        client.close()
        guest.kill()
        virtiofsd.kill()
        virtiofsd.wait()
        vfs_log.close()
        shutil.rmtree(sockdir, ignore_errors=True)


class TestPodOverVirtioFS:
    def test_01_sandbox_with_share_and_shm(self, pod):
        pod.need("")
        pod.call("Check", health_pb2.CheckRequest(), 30)
        pod.call("CreateSandbox", pb.CreateSandboxRequest(
            hostname="app-pod", dns=["search default.svc.cluster.local", "nameserver 10.96.0.10", "options ndots:5", ""],
            storages=[
                pb.Storage(driver="virtio-fs", source="kataShared", fstype="virtiofs", options=[], mount_point=f"{SHARED}/"),
                pb.Storage(driver="ephemeral", source="shm", fstype="tmpfs", mount_point=SHM,
                           options=["noexec", "nosuid", "nodev", "mode=1777", "size=67108864"]),
            ],
            sandbox_pidns=False, sandbox_id=SANDBOX, guest_hook_path="", kernel_modules=[]))
        details = pod.call("GetGuestDetails", pb.GuestDetailsRequest(mem_block_size=True, mem_hotplug_probe=True))
        handlers = set(details.agent_details.storage_handlers)
        assert {"virtio-fs", "ephemeral", "local", "overlayfs", "watchable-bind"} <= handlers, handlers
        pod.state["sandbox"] = True

    def test_02_pause_container_with_rootfs_on_the_share(self, pod):
        pod.need("sandbox")
        mounts = [_bind("/dev/shm", SHM), _bind("/etc/resolv.conf", str(pod_path(pod, "sandbox-resolv")), ro=True)]
        mounts[0].options[:] = ["rbind"]
        annotations = {"io.kubernetes.cri.container-type": "sandbox", "io.katacontainers.pkg.oci.container_type": "pod_sandbox"}
        started = time.monotonic()
        pod.call("CreateContainer", pb.CreateContainerRequest(
            container_id=SANDBOX, exec_id=SANDBOX, storages=[], devices=[],
            OCI=_spec(SANDBOX, [sc.BB, "sleep", "1000000"], mounts, annotations)))
        created = time.monotonic() - started
        print(f"\nbench: CreateContainer (pause) with a virtio-fs rootfs: {1000 * created:.0f} ms")
        pod.update_resources()
        pod.call("StartContainer", pb.StartContainerRequest(container_id=SANDBOX))
        # Left pending on the connection from now on, as the shim does.
        pod.background["oom"] = pod.client.start("GetOOMEvent", pb.GetOOMEventRequest(), timeout=0)
        pod.background["pause-wait"] = pod.client.start("WaitProcess", pb.WaitProcessRequest(
            container_id=SANDBOX, exec_id=SANDBOX), timeout=0)
        threading.Thread(target=pod.health_loop, name="health-every-5s", daemon=True).start()
        pod.state["pause"] = True

    def test_03_app_container_with_k8s_binds_and_a_watchable_configmap(self, pod):
        pod.need("pause")
        watchable = f"{WATCHABLE}/{CONFIG_NAME}"
        storage = pb.Storage(driver="watchable-bind", source=f"{SHARED}/{CONFIG_NAME}", fstype="bind",
                             options=["rbind", "rprivate", "ro"], mount_point=watchable)
        mounts = [
            _bind("/etc/hosts", f"{SHARED}/{pod.files['hosts'].name}"),
            _bind("/etc/hostname", f"{SHARED}/{pod.files['hostname'].name}"),
            _bind("/etc/resolv.conf", f"{SHARED}/{pod.files['resolv'].name}"),
            _bind(TERMINATION_PATH, f"{SHARED}/{pod.files['termination'].name}"),
            _bind("/config", watchable, ro=True),
            _bind("/dev/shm", SHM),
        ]
        annotations = {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": SANDBOX,
                       "io.kubernetes.container.terminationMessagePath": TERMINATION_PATH,
                       "io.katacontainers.pkg.oci.container_type": "pod_container"}
        # On SIGTERM: write the termination message, then exit 0 (GetDiagnosticData reads it).
        script = (f"trap 'echo terminated by SIGTERM > {TERMINATION_PATH}; exit 0' TERM; "
                  "echo app-started; while true; do /bin/busybox sleep 1; done")
        timings = []
        started = time.monotonic()
        pod.call("CreateContainer", pb.CreateContainerRequest(
            container_id=APP, exec_id=APP, storages=[storage], devices=[],
            OCI=_spec(APP, [sc.BB, "sh", "-c", "/bin/busybox --install -s /bin && " + script], mounts, annotations)))
        timings.append(time.monotonic() - started)
        print(f"\nbench: CreateContainer (app, virtio-fs rootfs, 6 binds, 1 watchable-bind storage): {1000 * timings[0]:.0f} ms")
        update = pod.update_resources()
        pod.call("StartContainer", pb.StartContainerRequest(container_id=APP))
        update += pod.update_resources()
        print(f"bench: OnlineCPUMem{{0}} + UpdateEphemeralMounts{{[]}}, twice: {1000 * update:.1f} ms")
        pod.background["stdout"] = pod.client.start("ReadStdout", pb.ReadStreamRequest(container_id=APP, exec_id=APP, len=32768), 0)
        pod.background["stderr"] = pod.client.start("ReadStderr", pb.ReadStreamRequest(container_id=APP, exec_id=APP, len=32768), 0)
        first = pod.background["stdout"].result(60)
        assert first.data == b"app-started\n", first.data
        pod.background["stdout"] = pod.client.start("ReadStdout", pb.ReadStreamRequest(container_id=APP, exec_id=APP, len=32768), 0)
        pod.state["app"] = True

    def test_04_exec_probe_sees_the_binds_the_rootfs_and_the_shm_options(self, pod):
        pod.need("app")
        out = pod.exec("probe-1", "cat /marker /etc/hosts /etc/hostname /config/app.properties /config/mode; "
                                  "grep ' /dev/shm ' /proc/self/mountinfo")
        assert out.startswith("app rootfs on virtio-fs\n127.0.0.1 localhost\n10.244.1.5 app-pod\napp-pod\ncolor=blue\nproduction\n"), out
        # The sandbox shm kept its options (upstream's agent drops them).
        assert "nosuid" in out and "nodev" in out and "noexec" in out and "size=65536k" in out, out
        agent_mounts = pod.exec("agent-mounts", "cat /proc/1/mountinfo")
        assert f" {SHARED} " in agent_mounts and " - virtiofs kataShared" in agent_mounts, agent_mounts
        assert f" {WATCHABLE} " in agent_mounts, agent_mounts
        stats = pod.call("StatsContainer", pb.StatsContainerRequest(container_id=APP))
        assert stats.cgroup_stats.memory_stats.usage.usage > 0
        pod.state["probed"] = True

    def test_05_configmap_update_reaches_the_container_with_inotify(self, pod):
        pod.need("probed")
        # A watcher in the container (probes/inotify_watch.c) watches the mirrored directory, as
        # an application watches its configMap; it prints "watching" once its watch is in place.
        pod.call("ExecProcess", pb.ExecProcessRequest(container_id=APP, exec_id="inotify",
                                                      process=sc.process(["/bin/inotify-watch", "/config"])))
        out = pod.call("ReadStdout", pb.ReadStreamRequest(container_id=APP, exec_id="inotify", len=64), 30)
        assert out.data == b"watching\n", out.data
        config = pod.files["config"] / "app.properties"
        config.write_text("color=green\n")
        future_mtime = time.time() + 5
        os.utime(config, (future_mtime, future_mtime))
        started = time.monotonic()
        event = pod.call("ReadStdout", pb.ReadStreamRequest(container_id=APP, exec_id="inotify", len=256), 30)
        seen = time.monotonic() - started
        assert b"app.properties" in event.data, event.data
        print(f"\nbench: configMap update seen by inotify in the container after {1000 * seen:.0f} ms (refresh every 2 s)")
        assert pod.exec("cat-config", "cat /config/app.properties") == "color=green\n"
        # The watcher exits by itself after the first batch of events.
        status = pod.call("WaitProcess", pb.WaitProcessRequest(container_id=APP, exec_id="inotify")).status
        assert status == 0, status

    def test_06_volume_stats_and_share_rpcs(self, pod):
        pod.need("probed")
        reply = pod.call("GetVolumeStats", pb.VolumeStatsRequest(volume_guest_path=SHM))
        usage = {u.unit: u for u in reply.usage}
        assert usage[csi_pb2.VolumeUsage.BYTES].total == 64 << 20, reply
        assert usage[csi_pb2.VolumeUsage.INODES].total > 0, reply
        assert reply.volume_condition.abnormal is False and reply.volume_condition.message == "OK"
        pod.call("RemoveStaleVirtiofsShareMounts", pb.RemoveStaleVirtiofsShareMountsRequest())

    def test_07_teardown_as_the_shim_does(self, pod):
        pod.need("app")
        # Pod deletion: SIGTERM, the read loops end, then the WaitProcess the shim sends after EOF.
        pod.call("SignalProcess", pb.SignalProcessRequest(container_id=APP, exec_id="", signal=15))
        for stream in ("stdout", "stderr"):
            while True:
                reply = pod.background[stream].result(60)
                if not reply.data:
                    break
                rpc = "ReadStdout" if stream == "stdout" else "ReadStderr"
                pod.background[stream] = pod.client.start(rpc, pb.ReadStreamRequest(container_id=APP, exec_id=APP, len=32768), 0)
        status = pod.call("WaitProcess", pb.WaitProcessRequest(container_id=APP, exec_id=APP), 60).status
        assert status == 0, status
        # StopContainer(force): SIGKILL and a second wait, both on a reaped process (errors ignored).
        for rpc, request in (("SignalProcess", pb.SignalProcessRequest(container_id=APP, exec_id="", signal=9)),
                             ("WaitProcess", pb.WaitProcessRequest(container_id=APP, exec_id=APP))):
            try:
                pod.client.call(rpc, request, 60)
            except ac.RpcFailed:
                pass
        diagnostic = pod.call("GetDiagnosticData", pb.GetDiagnosticDataRequest(log_type="termination_log", container_id=APP))
        assert diagnostic.data == "terminated by SIGTERM\n", diagnostic.data
        pod.call("RemoveContainer", pb.RemoveContainerRequest(container_id=APP, timeout=0))
        pod.call("RemoveStaleVirtiofsShareMounts", pb.RemoveStaleVirtiofsShareMountsRequest())
        # The watchable mirror and its tmpfs went with their last user; the share stays.
        table = pod_exec_in_pause(pod, "/bin/busybox cat /proc/1/mountinfo")
        assert f" {WATCHABLE} " not in table and f" {SHARED} " in table, table

        # Pause: SIGKILL ends the pending WaitProcess; then the same stop sequence and DestroySandbox.
        pod.call("SignalProcess", pb.SignalProcessRequest(container_id=SANDBOX, exec_id="", signal=9))
        assert pod.background["pause-wait"].result(60).status == 137
        for rpc, request in (("SignalProcess", pb.SignalProcessRequest(container_id=SANDBOX, exec_id="", signal=9)),
                             ("WaitProcess", pb.WaitProcessRequest(container_id=SANDBOX, exec_id=SANDBOX))):
            try:
                pod.client.call(rpc, request, 60)
            except ac.RpcFailed:
                pass
        pod.call("RemoveContainer", pb.RemoveContainerRequest(container_id=SANDBOX, timeout=0))
        pod.call("RemoveStaleVirtiofsShareMounts", pb.RemoveStaleVirtiofsShareMountsRequest())
        # A periodic Check answered beside the pending calls (the first comes 5 s after the start).
        assert pod.health_answered.wait(30), "no periodic Health.Check answered during the pod's life"
        pod.health_stop.set()
        pod.call("DestroySandbox", pb.DestroySandboxRequest())
        # The pending GetOOMEvent ends with an error, not with its (absent) deadline.
        with pytest.raises(ac.RpcFailed):
            pod.background["oom"].result(60)
        # The host's files were shared, never changed by the guest's teardown.
        assert (pod.files["config"] / "mode").read_text() == "production\n"
        assert pod.files["termination"].read_text() == "terminated by SIGTERM\n"


def pod_path(pod: Pod, key: str) -> str:
    return f"{SHARED}/{pod.files[key].name}"


def pod_exec_in_pause(pod: Pod, script: str) -> str:
    """An exec in the pause container (the app is gone); its rootfs is a busybox too."""
    exec_id = f"pause-{time.monotonic_ns()}"
    pod.call("ExecProcess", pb.ExecProcessRequest(container_id=SANDBOX, exec_id=exec_id,
                                                  process=sc.process([sc.BB, "sh", "-c", script])))
    data = b""
    while True:
        reply = pod.call("ReadStdout", pb.ReadStreamRequest(container_id=SANDBOX, exec_id=exec_id, len=32768), 0)
        if not reply.data:
            break
        data += reply.data
    status = pod.call("WaitProcess", pb.WaitProcessRequest(container_id=SANDBOX, exec_id=exec_id)).status
    assert status == 0, data
    return data.decode(errors="replace")
