"""Valid requests the fuzzer changes one field of at a time.

A request built from scratch is usually refused by the first check it meets; one valid request
with a single bad field gets past the others and shows whether the code behind them copes.
Keyed by the message's full name, as rpcgen.Generator.templates expects.
"""

from __future__ import annotations

import agentclient

pb, oci = agentclient.agent_pb2, agentclient.oci_pb2


def _spec() -> "oci.Spec":
    return oci.Spec(
        Version="1.0.2",
        Process=oci.Process(Args=["/bin/true"], Env=["PATH=/bin"], Cwd="/",
                            User=oci.User(UID=0, GID=0),
                            Rlimits=[oci.POSIXRlimit(Type="RLIMIT_NOFILE", Hard=1024, Soft=1024)]),
        Root=oci.Root(Path="/tmp/kata-fuzz/rootfs"),
        Hostname="fuzz",
        Mounts=[oci.Mount(destination="/proc", source="proc", type="proc"),
                oci.Mount(destination="/data", source="/tmp/kata-fuzz/dir", type="bind", options=["rbind", "ro"])],
        Linux=oci.Linux(
            CgroupsPath="/kata/fuzz",
            Namespaces=[oci.LinuxNamespace(Type="mount"), oci.LinuxNamespace(Type="pid")],
            Resources=oci.LinuxResources(
                Memory=oci.LinuxMemory(Limit=64 << 20),
                CPU=oci.LinuxCPU(Shares=512, Quota=50000, Period=100000, Cpus="0", Mems="0"),
                Pids=oci.LinuxPids(Limit=64),
                HugepageLimits=[oci.LinuxHugepageLimit(Pagesize="2MB", Limit=0)]),
            MaskedPaths=["/proc/kcore"], ReadonlyPaths=["/proc/sys"]),
        Hooks=oci.Hooks(Prestart=[oci.Hook(Path="/bin/true", Timeout=5)]))


def valid_requests() -> dict:
    storage = pb.Storage(driver="local", source="local", fstype="local", mount_point="/run/kata-containers/fuzz-local",
                         options=["mode=0755"])
    requests = [
        pb.CreateSandboxRequest(hostname="fuzz", dns=["nameserver 10.0.0.1"], storages=[storage], sandbox_id="sb"),
        pb.CreateContainerRequest(container_id="c1", exec_id="c1", OCI=_spec(), storages=[
            pb.Storage(driver="virtio-fs", source="kataShared", fstype="virtiofs",
                       mount_point="/run/kata-containers/shared/containers/")],
            devices=[pb.Device(id="d1", type="blk", vm_path="02/00", container_path="/dev/vdb")]),
        pb.ExecProcessRequest(container_id="c1", exec_id="e1", process=oci.Process(Args=["/bin/true"], Cwd="/")),
        pb.SignalProcessRequest(container_id="c1", exec_id="e1", signal=15),
        pb.WaitProcessRequest(container_id="c1", exec_id="e1"),
        pb.ReadStreamRequest(container_id="c1", exec_id="e1", len=32768),
        pb.WriteStreamRequest(container_id="c1", exec_id="e1", data=b"x"),
        pb.TtyWinResizeRequest(container_id="c1", exec_id="e1", row=24, column=80),
        pb.UpdateContainerRequest(container_id="c1", resources=_spec().Linux.Resources),
        pb.UpdateEphemeralMountsRequest(storages=[storage]),
        pb.UpdateInterfaceRequest(interface=agentclient.agent_pb2.types__pb2.Interface(
            device="eth0", name="eth0", mtu=1500, hwAddr="02:00:00:00:00:01",
            IPAddresses=[agentclient.agent_pb2.types__pb2.IPAddress(address="10.0.0.2", mask="24")])),
        pb.UpdateRoutesRequest(routes=pb.Routes(Routes=[agentclient.agent_pb2.types__pb2.Route(
            dest="10.1.0.0/16", gateway="10.0.0.1", device="eth0")])),
        pb.CopyFileRequest(path="/run/kata-containers/shared/containers/fuzz/file", file_size=1, file_mode=0o644,
                           dir_mode=0o755, data=b"x"),
        pb.SetIPTablesRequest(data=b"*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"),
        pb.OnlineCPUMemRequest(nb_cpus=1, cpu_only=True),
        pb.MemHotplugByProbeRequest(memHotplugProbeAddr=[0x100000000]),
        pb.SetGuestDateTimeRequest(Sec=1700000000, Usec=0),
        pb.AddSwapRequest(PCIPath=[2, 0]),
        pb.VolumeStatsRequest(volume_guest_path="/run/kata-containers/fuzz-local"),
        pb.ResizeVolumeRequest(volume_guest_path="/run/kata-containers/fuzz-local", size=1 << 30),
        pb.StatsContainerRequest(container_id="c1"),
    ]
    return {r.DESCRIPTOR.full_name: r for r in requests}
