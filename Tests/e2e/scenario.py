"""The end-to-end scenario's building blocks, written once against agentclient's interface."""

from __future__ import annotations

import agentclient as ac
from agentclient import agent_pb2 as pb, oci_pb2 as oci

import guests

PATH_ENV = "PATH=/bin:/sbin:/usr/bin:/usr/sbin"
BB = "/bin/busybox"


def create_sandbox(client, sandbox_id: str = "e2e-sandbox") -> None:
    name, param, value = guests.ON_DEMAND_MODULE
    request = pb.CreateSandboxRequest(
        hostname="e2e-guest", sandbox_id=sandbox_id, guest_hook_path=guests.HOOK_DIR,
        kernel_modules=[pb.KernelModule(name=name, parameters=[f"{param}={value}"])])
    client.call("CreateSandbox", request)


def process(args: list[str], terminal: bool = False) -> oci.Process:
    return oci.Process(Args=args, Env=[PATH_ENV], Cwd="/", Terminal=terminal,
                       User=oci.User(UID=0, GID=0))


MEMORY_LIMIT = 64 * 1024 * 1024
SYSCTLS = {"kernel.shmmax": "68719476736", "net.ipv4.ip_forward": "1"}


def container_spec(container_id: str, args: list[str], limits: bool = True) -> oci.Spec:
    """A busybox container on the rootfs the guest carries; `limits` adds the sysctls and the
    memory limit the tests check."""
    return oci.Spec(
        Version="1.0.2",
        Process=process(args),
        Root=oci.Root(Path=guests.CONTAINER_ROOTFS, Readonly=False),
        Hostname=container_id,
        Mounts=[
            oci.Mount(destination="/proc", source="proc", type="proc", options=["nosuid", "noexec", "nodev"]),
            oci.Mount(destination="/sys", source="sysfs", type="sysfs", options=["nosuid", "noexec", "nodev", "ro"]),
            oci.Mount(destination="/sys/fs/cgroup", source="cgroup", type="cgroup",
                      options=["nosuid", "noexec", "nodev", "relatime", "ro"]),
            oci.Mount(destination="/dev", source="tmpfs", type="tmpfs", options=["nosuid", "strictatime", "mode=755"]),
            oci.Mount(destination="/tmp", source="tmpfs", type="tmpfs", options=["nosuid", "nodev"]),
        ],
        Linux=oci.Linux(
            Sysctl=SYSCTLS if limits else {},
            Resources=oci.LinuxResources(Memory=oci.LinuxMemory(Limit=MEMORY_LIMIT if limits else 0)),
            CgroupsPath=f"/kata/{container_id}",
            Namespaces=[oci.LinuxNamespace(Type=t) for t in ("pid", "ipc", "uts", "mount")],
        ),
    )


def in_agent_pid_namespace(spec: oci.Spec, others: tuple[str, ...] = ("ipc", "uts", "mount")) -> oci.Spec:
    """`spec` joining the guest's own pid namespace, the agent's, so /proc/1 in the container
    is the agent (whose mounts, root and memory tests read there). The agent gives every
    container a pid namespace of its own unless the spec names one to join, as this does."""
    del spec.Linux.Namespaces[:]
    spec.Linux.Namespaces.extend([oci.LinuxNamespace(Type=t) for t in others])
    spec.Linux.Namespaces.append(oci.LinuxNamespace(Type="pid", Path="/proc/1/ns/pid"))
    return spec


def create_container(client, container_id: str, args: list[str], limits: bool = True) -> None:
    client.call("CreateContainer", pb.CreateContainerRequest(
        container_id=container_id, exec_id=container_id, OCI=container_spec(container_id, args, limits)))


def create_on_read_only_guest(client, container_id: str, args: list[str]) -> None:
    """A container for a guest whose root, and the busybox rootfs on it, are read-only (an
    image): its root is a tmpfs (ephemeral storage) with busybox bound into it, and in the
    agent's pid namespace its /proc shows the agent's processes."""
    root = f"/run/kata-containers/{container_id}-root"
    spec = container_spec(container_id, args, limits=False)
    spec.Root.Path = root
    del spec.Mounts[:]
    spec.Mounts.extend([
        oci.Mount(destination="/bin", source=f"{guests.CONTAINER_ROOTFS}/bin", type="bind", options=["rbind", "ro"]),
        oci.Mount(destination="/proc", source="proc", type="proc", options=["nosuid", "noexec", "nodev"]),
    ])
    in_agent_pid_namespace(spec, others=("mount",))
    client.call("CreateContainer", pb.CreateContainerRequest(
        container_id=container_id, exec_id=container_id, OCI=spec,
        storages=[pb.Storage(driver="ephemeral", source="tmpfs", fstype="tmpfs", mount_point=root)]))


def read_all(client, rpc: str, container_id: str, exec_id: str, limit: int = 1 << 20) -> bytes:
    """Pull reads until the empty reply that means end of stream."""
    data = b""
    while len(data) <= limit:
        reply = client.call(rpc, pb.ReadStreamRequest(container_id=container_id, exec_id=exec_id, len=65536))
        if not reply.data:
            return data
        data += reply.data
    raise AssertionError(f"{rpc} {container_id}/{exec_id}: more than {limit} bytes")


def wait(client, container_id: str, exec_id: str) -> int:
    return client.call("WaitProcess", pb.WaitProcessRequest(container_id=container_id, exec_id=exec_id),
                       timeout=120).status


def exec_process(client, container_id: str, exec_id: str, args: list[str]) -> None:
    client.call("ExecProcess", pb.ExecProcessRequest(
        container_id=container_id, exec_id=exec_id, process=process(args)))


def run(client, container_id: str, exec_id: str, script: str | list[str],
        stdin: bytes = b"") -> tuple[int, str, str]:
    """Run a shell script (or an argv) in the container, feeding it `stdin`;
    (status, stdout, stderr)."""
    args = [BB, "sh", "-c", script] if isinstance(script, str) else script
    exec_process(client, container_id, exec_id, args)
    written = 0
    while written < len(stdin):
        written += client.call("WriteStdin", pb.WriteStreamRequest(
            container_id=container_id, exec_id=exec_id, data=stdin[written:])).len
    client.call("CloseStdin", pb.CloseStdinRequest(container_id=container_id, exec_id=exec_id))
    out = read_all(client, "ReadStdout", container_id, exec_id).decode(errors="replace")
    err = read_all(client, "ReadStderr", container_id, exec_id).decode(errors="replace")
    return wait(client, container_id, exec_id), out, err


INIT_SCRIPT = "/bin/busybox --install -s /bin && echo init-started && exec /bin/busybox sleep 100000"

# Prints the memory limit of the calling process's cgroup, v2 or v1.
MEMORY_LIMIT_SCRIPT = """
p=$(sed -n 's/^0:://p' /proc/self/cgroup)
if [ -n "$p" ] && [ -f "/sys/fs/cgroup$p/memory.max" ]; then cat "/sys/fs/cgroup$p/memory.max"; exit; fi
if [ -f /sys/fs/cgroup/memory.max ]; then cat /sys/fs/cgroup/memory.max; exit; fi
p=$(sed -n 's/^[0-9]*:[^:]*memory[^:]*://p' /proc/self/cgroup)
for f in "/sys/fs/cgroup/memory$p/memory.limit_in_bytes" /sys/fs/cgroup/memory/memory.limit_in_bytes; do
    [ -f "$f" ] && { cat "$f"; exit; }
done
echo "no memory limit file; /proc/self/cgroup:" >&2; cat /proc/self/cgroup >&2; exit 1
"""
