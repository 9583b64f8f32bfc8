import CLinuxShim
import Glibc
import OCISpec

/// `kata-agent init`: the container's first process, re-executed from a sealed copy of the
/// agent. It is single-threaded (nothing else has run in this process), reads its
/// `InitConfig` from fd 3, builds the container around itself following runc/rustjail's
/// order, waits for `start` (create mode) and execs the workload. Any failure is reported on
/// fd 3 as an `error` message; a successful exec closes fd 3 (CLOEXEC), which the agent reads
/// as success.
public enum ContainerInit {
    /// The socket to the agent, set up by the engine's spawn.
    static let syncFD: Int32 = 3

    /// Entry point; never returns.
    public static func main() -> Never {
        let socket = SyncSocket(fd: syncFD)
        do {
            let message = try socket.receive()
            guard message.kind == .config, let config = message.config else {
                throw InitFailure("receive config", "unexpected message \(message.kind.rawValue)")
            }
            try run(config, socket: socket, state: message.state)
        } catch let failure as InitFailure {
            report(socket, errno: failure.errno, failure.message)
        } catch {
            report(socket, errno: 0, "init: \(error)")
        }
        exit(1)
    }

    private static func report(_ socket: SyncSocket, errno: Int32, _ message: String) {
        try? socket.send(SyncMessage(kind: .error, errno: errno, message: message))
    }

    static func run(_ config: InitConfig, socket: SyncSocket, state: OCISpec.State?) throws {
        // Other container processes must not open this process's /proc entries (exe, mem).
        try InitFailure.check(engine_prctl(LinuxConstants.prSetDumpable, 0), "prctl LinuxConstants.prSetDumpable")
        try joinNamespaces(config.joinNamespaces)
        if config.inNewUserNamespace || config.joinNamespaces.contains(where: { $0.type == "user" }) {
            // Become the namespace's root so the setup below has its capabilities and ids.
            try InitFailure.check(engine_setresgid(0), "setresgid 0 in user namespace")
            try InitFailure.check(engine_setresuid(0), "setresuid 0 in user namespace")
        }
        if config.mode == .create {
            if config.unshareCgroup {
                try InitFailure.check(engine_unshare(LinuxConstants.cloneNewCgroup), "unshare cgroup namespace")
            }
            try setHostname(config.spec)
            if config.spec.linux?.namespaces?.contains(where: { $0.type == "mount" }) ?? false {
                try InitRootfs(config: config).setUp {
                    try runCreateHooks(config, socket: socket, state: state)
                }
            } else {
                throw InitFailure("rootfs", "a container needs a mount namespace")
            }
        }
        try InitFailure.checkLibc(setsid() < 0 ? -1 : 0, "setsid")
        if config.process.terminal == true {
            try InitFailure.check(engine_set_ctty(0), "set controlling terminal")
        }
        try InitProcessSetup(config: config).finish(socket: socket)
    }

    /// The create-time hooks, at runc's point: the container's namespaces exist and its mounts
    /// and devices are in place, pivot_root has not happened yet. First the agent runs prestart
    /// and createRuntime in its own (the runtime's) namespaces while we wait (runc's
    /// procHooks/procResume), then we run createContainer here, in the container's namespaces,
    /// with the rootfs as cwd as runc does; their paths resolve in the runtime's filesystem,
    /// which is still our root.
    ///
    /// Upstream Kata's rustjail differs: its parent runs only prestart at this sync point, and
    /// its createContainer/startContainer hooks get status "created" and the init's own getpid()
    /// (1 in a new pid namespace). We follow runc and the runtime spec: status "creating" for
    /// the create-time hooks, and the pid the agent sees (runtime.md: "as seen by the host").
    static func runCreateHooks(_ config: InitConfig, socket: SyncSocket, state: OCISpec.State?) throws {
        let hooks = config.spec.hooks
        if !HookKind.prestart.hooks(in: hooks).isEmpty || !HookKind.createRuntime.hooks(in: hooks).isEmpty {
            try socket.send(SyncMessage(kind: .hooks))
            let reply = try socket.receive()
            guard reply.kind == .hooksDone else {
                throw InitFailure("wait for prestart/createRuntime hooks", "unexpected message \(reply.kind.rawValue)")
            }
        }
        let createContainer = HookKind.createContainer.hooks(in: hooks)
        guard !createContainer.isEmpty else { return }
        try InitFailure.checkLibc(chdir(config.rootfs), "chdir \(config.rootfs) for createContainer hooks")
        try InitHooks.run(.createContainer, hooks: createContainer, state: state)
    }

    /// setns into each path, user namespace first, mount namespace last (its root and cwd
    /// replace ours). Every path is opened before the first join: an exec's paths name the
    /// agent's pinned descriptors (/proc/<agent>/fd/N), which a process already in the
    /// container's user namespace may no longer open.
    static func joinNamespaces(_ namespaces: [LinuxNamespace]) throws {
        let order = ["user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount"]
        let sorted = namespaces.sorted { (order.firstIndex(of: $0.type) ?? 99) < (order.firstIndex(of: $1.type) ?? 99) }
        var opened: [(fd: Int32, flag: Int32, type: String, path: String)] = []
        defer { for entry in opened { close(entry.fd) } }
        for namespace in sorted {
            guard let path = namespace.path, let flag = NamespaceType.cloneFlag(namespace.type) else { continue }
            if namespace.type == "pid" { continue }  // joined by the agent before the clone
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw InitFailure("open \(namespace.type) namespace \(path)", errno: errno) }
            opened.append((fd, flag, namespace.type, path))
        }
        for entry in opened {
            try InitFailure.check(engine_setns(entry.fd, entry.flag), "join \(entry.type) namespace \(entry.path)")
        }
    }

    private static func setHostname(_ spec: Spec) throws {
        if let hostname = spec.hostname, !hostname.isEmpty {
            try InitFailure.checkLibc(sethostname(hostname, hostname.utf8.count), "sethostname \(hostname)")
        }
        if let domain = spec.domainname, !domain.isEmpty {
            try InitFailure.checkLibc(setdomainname(domain, domain.utf8.count), "setdomainname \(domain)")
        }
    }
}

/// OCI namespace type names and their clone flags.
public enum NamespaceType {
    public static func cloneFlag(_ type: String) -> Int32? {
        switch type {
        case "pid": return LinuxConstants.cloneNewPID
        case "network": return LinuxConstants.cloneNewNet
        case "mount": return LinuxConstants.cloneNewNS
        case "ipc": return LinuxConstants.cloneNewIPC
        case "uts": return LinuxConstants.cloneNewUTS
        case "user": return LinuxConstants.cloneNewUser
        case "cgroup": return LinuxConstants.cloneNewCgroup
        case "time": return LinuxConstants.cloneNewTime
        default: return nil
        }
    }

    /// The /proc/<pid>/ns/<name> entry of a type.
    public static func procName(_ type: String) -> String? {
        switch type {
        case "pid": return "pid"
        case "network": return "net"
        case "mount": return "mnt"
        case "ipc": return "ipc"
        case "uts": return "uts"
        case "user": return "user"
        case "cgroup": return "cgroup"
        case "time": return "time"
        default: return nil
        }
    }
}
