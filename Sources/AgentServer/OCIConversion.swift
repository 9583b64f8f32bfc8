import KataProtocols
import OCISpec

/// The runtime's protobuf spec (oci.proto) to the runtime-spec's JSON model. Protobuf has no
/// "absent" for scalars, so zero values become nil where the spec makes the field optional
/// and zero would change meaning.
enum OCIConversion {
    static func spec(_ proto: Grpc_Spec) -> Spec {
        Spec(
            ociVersion: proto.version.isEmpty ? "1.0.2" : proto.version,
            process: proto.hasProcess ? process(proto.process) : nil,
            root: proto.hasRoot ? Root(path: proto.root.path, readonly: proto.root.readonly) : nil,
            hostname: proto.hostname.isEmpty ? nil : proto.hostname,
            mounts: proto.mounts.map(mount),
            hooks: proto.hasHooks ? hooks(proto.hooks) : nil,
            annotations: proto.annotations.isEmpty ? nil : proto.annotations,
            linux: proto.hasLinux ? linux(proto.linux) : nil)
    }

    static func process(_ proto: Grpc_Process) -> Process {
        Process(
            terminal: proto.terminal,
            consoleSize: proto.hasConsoleSize ? Box(height: proto.consoleSize.height, width: proto.consoleSize.width) : nil,
            user: User(uid: proto.user.uid, gid: proto.user.gid,
                       additionalGids: proto.user.additionalGids.isEmpty ? nil : proto.user.additionalGids,
                       username: proto.user.username.isEmpty ? nil : proto.user.username),
            args: proto.args, env: proto.env, cwd: proto.cwd.isEmpty ? "/" : proto.cwd,
            capabilities: proto.hasCapabilities ? capabilities(proto.capabilities) : nil,
            rlimits: proto.rlimits.isEmpty ? nil : proto.rlimits.map { POSIXRlimit(type: $0.type, hard: $0.hard, soft: $0.soft) },
            noNewPrivileges: proto.noNewPrivileges,
            apparmorProfile: proto.apparmorProfile.isEmpty ? nil : proto.apparmorProfile,
            oomScoreAdj: proto.oomscoreAdj == 0 ? nil : Int(clamping: proto.oomscoreAdj),
            selinuxLabel: proto.selinuxLabel.isEmpty ? nil : proto.selinuxLabel)
    }

    static func capabilities(_ proto: Grpc_LinuxCapabilities) -> LinuxCapabilities {
        LinuxCapabilities(bounding: proto.bounding, effective: proto.effective, inheritable: proto.inheritable,
                          permitted: proto.permitted, ambient: proto.ambient)
    }

    static func mount(_ proto: Grpc_Mount) -> Mount {
        Mount(destination: proto.destination, type: proto.type.isEmpty ? nil : proto.type,
              source: proto.source.isEmpty ? nil : proto.source, options: proto.options.isEmpty ? nil : proto.options)
    }

    static func hooks(_ proto: Grpc_Hooks) -> Hooks {
        func convert(_ list: [Grpc_Hook]) -> [Hook]? {
            list.isEmpty ? nil : list.map {
                Hook(path: $0.path, args: $0.args.isEmpty ? nil : $0.args, env: $0.env.isEmpty ? nil : $0.env,
                     timeout: $0.timeout == 0 ? nil : Int(clamping: $0.timeout))
            }
        }
        return Hooks(prestart: convert(proto.prestart), createRuntime: convert(proto.createRuntime),
                     createContainer: convert(proto.createContainer), startContainer: convert(proto.startContainer),
                     poststart: convert(proto.poststart), poststop: convert(proto.poststop))
    }

    static func linux(_ proto: Grpc_Linux) -> Linux {
        Linux(
            uidMappings: proto.uidmappings.isEmpty ? nil : proto.uidmappings.map(idMapping),
            gidMappings: proto.gidmappings.isEmpty ? nil : proto.gidmappings.map(idMapping),
            sysctl: proto.sysctl.isEmpty ? nil : proto.sysctl,
            resources: proto.hasResources ? resources(proto.resources) : nil,
            cgroupsPath: proto.cgroupsPath.isEmpty ? nil : proto.cgroupsPath,
            namespaces: proto.namespaces.map { LinuxNamespace(type: $0.type, path: $0.path.isEmpty ? nil : $0.path) },
            devices: proto.devices.isEmpty ? nil : proto.devices.map {
                LinuxDevice(path: $0.path, type: $0.type, major: $0.major, minor: $0.minor,
                            fileMode: $0.fileMode == 0 ? nil : $0.fileMode, uid: $0.uid, gid: $0.gid)
            },
            seccomp: proto.hasSeccomp ? seccomp(proto.seccomp) : nil,
            rootfsPropagation: proto.rootfsPropagation.isEmpty ? nil : proto.rootfsPropagation,
            maskedPaths: proto.maskedPaths.isEmpty ? nil : proto.maskedPaths,
            readonlyPaths: proto.readonlyPaths.isEmpty ? nil : proto.readonlyPaths,
            mountLabel: proto.mountLabel.isEmpty ? nil : proto.mountLabel)
    }

    static func idMapping(_ proto: Grpc_LinuxIDMapping) -> LinuxIDMapping {
        LinuxIDMapping(containerID: proto.containerID, hostID: proto.hostID, size: proto.size)
    }

    static func seccomp(_ proto: Grpc_LinuxSeccomp) -> LinuxSeccomp {
        LinuxSeccomp(
            defaultAction: proto.defaultAction,
            architectures: proto.architectures.isEmpty ? nil : proto.architectures,
            flags: proto.flags.isEmpty ? nil : proto.flags,
            syscalls: proto.syscalls.map { call in
                var errnoRet: UInt32?
                if case .errnoret(let value)? = call.errnoRet { errnoRet = value }
                return LinuxSyscall(
                    names: call.names, action: call.action, errnoRet: errnoRet,
                    args: call.args.isEmpty ? nil : call.args.map {
                        LinuxSeccompArg(index: UInt32(clamping: $0.index), value: $0.value,
                                        valueTwo: $0.valueTwo == 0 ? nil : $0.valueTwo, op: $0.op)
                    })
            })
    }

    static func resources(_ proto: Grpc_LinuxResources) -> LinuxResources {
        LinuxResources(
            devices: proto.devices.isEmpty ? nil : proto.devices.map {
                LinuxDeviceCgroup(allow: $0.allow, type: $0.type.isEmpty ? nil : $0.type,
                                  major: $0.major == -1 ? nil : $0.major, minor: $0.minor == -1 ? nil : $0.minor,
                                  access: $0.access.isEmpty ? nil : $0.access)
            },
            memory: proto.hasMemory ? memory(proto.memory) : nil,
            cpu: proto.hasCpu ? cpu(proto.cpu) : nil,
            pids: proto.hasPids && proto.pids.limit != 0 ? LinuxPids(limit: proto.pids.limit) : nil,
            blockIO: proto.hasBlockIo ? blockIO(proto.blockIo) : nil,
            hugepageLimits: proto.hugepageLimits.isEmpty ? nil : proto.hugepageLimits.map {
                LinuxHugepageLimit(pageSize: $0.pagesize, limit: $0.limit)
            },
            network: proto.hasNetwork ? LinuxNetwork(
                classID: proto.network.classID == 0 ? nil : proto.network.classID,
                priorities: proto.network.priorities.isEmpty ? nil : proto.network.priorities.map {
                    LinuxInterfacePriority(name: $0.name, priority: $0.priority)
                }) : nil)
    }

    static func memory(_ proto: Grpc_LinuxMemory) -> LinuxMemory {
        LinuxMemory(
            limit: nonZero(proto.limit), reservation: nonZero(proto.reservation), swap: nonZero(proto.swap),
            kernel: nonZero(proto.kernel), kernelTCP: nonZero(proto.kernelTcp),
            swappiness: proto.swappiness == 0 ? nil : proto.swappiness,
            disableOOMKiller: proto.disableOomkiller ? true : nil)
    }

    static func cpu(_ proto: Grpc_LinuxCPU) -> LinuxCPU {
        LinuxCPU(
            shares: proto.shares == 0 ? nil : proto.shares, quota: nonZero(proto.quota),
            period: proto.period == 0 ? nil : proto.period, realtimeRuntime: nonZero(proto.realtimeRuntime),
            realtimePeriod: proto.realtimePeriod == 0 ? nil : proto.realtimePeriod,
            cpus: proto.cpus.isEmpty ? nil : proto.cpus, mems: proto.mems.isEmpty ? nil : proto.mems)
    }

    static func blockIO(_ proto: Grpc_LinuxBlockIO) -> LinuxBlockIO {
        func throttle(_ list: [Grpc_LinuxThrottleDevice]) -> [LinuxThrottleDevice]? {
            list.isEmpty ? nil : list.map { LinuxThrottleDevice(major: $0.major, minor: $0.minor, rate: $0.rate) }
        }
        return LinuxBlockIO(
            weight: proto.weight == 0 ? nil : UInt16(clamping: proto.weight),
            leafWeight: proto.leafWeight == 0 ? nil : UInt16(clamping: proto.leafWeight),
            weightDevice: proto.weightDevice.isEmpty ? nil : proto.weightDevice.map {
                LinuxWeightDevice(major: $0.major, minor: $0.minor,
                                  weight: $0.weight == 0 ? nil : UInt16(clamping: $0.weight),
                                  leafWeight: $0.leafWeight == 0 ? nil : UInt16(clamping: $0.leafWeight))
            },
            throttleReadBpsDevice: throttle(proto.throttleReadBpsDevice),
            throttleWriteBpsDevice: throttle(proto.throttleWriteBpsDevice),
            throttleReadIOPSDevice: throttle(proto.throttleReadIopsdevice),
            throttleWriteIOPSDevice: throttle(proto.throttleWriteIopsdevice))
    }

    private static func nonZero(_ value: Int64) -> Int64? { value == 0 ? nil : value }
}
