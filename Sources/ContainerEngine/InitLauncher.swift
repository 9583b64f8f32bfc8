import CLinuxShim
import Cgroups
import Glibc
import LinuxKit
import OCISpec

/// Starts one `kata-agent init` process and runs the agent's half of the handshake: spawn
/// into the planned namespaces, id maps, cgroup, rlimits, oom_score_adj, then the config.
struct InitLauncher {
    struct Request: Sendable {
        var config: InitConfig
        var cloneFlags: Int32
        var pidNamespacePath: String?
        var uidMappings: [LinuxIDMapping] = []
        var gidMappings: [LinuxIDMapping] = []
        var cgroup: CgroupManager?
        /// The createContainer hooks' state (its pid is filled in once the init exists).
        var createState: OCISpec.State?
        /// Runs the prestart and createRuntime hooks when the init asks for them (create).
        var runtimeHooks: (@Sendable (pid_t) async throws -> Void)?
        /// How long the init may additionally take for the hooks it runs itself.
        var hookBudgetMilliseconds: Int32 = 0
    }

    struct Launched: Sendable {
        let pid: pid_t
        let socket: SyncSocket
    }

    let engine: Engine
    var id: String { "" }

    /// Returns once the init answered `ready` (create) or exec'd (exec mode: socket closed).
    func launch(_ request: Request, stdio: ProcessStdio) async throws -> Launched {
        let engine = self.engine
        let containerID = request.config.containerID
        let operation = request.config.mode == .create ? "create" : "exec"
        // A child that was spawned but failed before the handshake is killed in there and
        // reaped out here (waiting on the reaper is async), so its record does not linger.
        enum Outcome: Sendable {
            case launched(Launched)
            case killed(pid_t, EngineError)
        }
        let outcome: Outcome = try await Blocking.run {
            let exe = try engine.initExecutableFD()
            var pair: [Int32] = [-1, -1]
            let rc = pair.withUnsafeMutableBufferPointer { engine_socketpair($0.baseAddress) }
            guard rc == 0 else { throw EngineError.sys(operation, containerID, "socketpair", -rc) }
            defer { close(pair[1]) }
            let (budget, overflow) = engine.options.initTimeoutMilliseconds.addingReportingOverflow(request.hookBudgetMilliseconds)
            _ = engine_set_recv_timeout(pair[0], overflow ? Int32.max : budget)
            var pidns: Int32 = -1
            if let path = request.pidNamespacePath {
                pidns = open(path, O_RDONLY | O_CLOEXEC)
                guard pidns >= 0 else {
                    let code = errno
                    close(pair[0])
                    throw EngineError.sys(operation, containerID, "open pid namespace \(path)", code)
                }
            }
            defer { if pidns >= 0 { close(pidns) } }
            let pid: pid_t = spawn(exe: exe, sync: pair[1], pidns: pidns, flags: request.cloneFlags, stdio: stdio,
                                   uidMap: Self.idMap(request.uidMappings), gidMap: Self.idMap(request.gidMappings))
            stdio.closeChildEnds()
            guard pid > 0 else {
                close(pair[0])
                throw EngineError.sys(operation, containerID, "spawn container init", -pid)
            }
            let socket = SyncSocket(fd: pair[0])
            do {
                try prepare(pid: pid, request: request)
                var state = request.createState
                state?.pid = pid
                try socket.send(SyncMessage(kind: .config, config: request.config, state: state))
            } catch {
                kill(pid: pid)
                close(pair[0])
                return .killed(pid, error as? EngineError ?? EngineError(.system, operation, container: containerID, "\(error)"))
            }
            return .launched(Launched(pid: pid, socket: socket))
        }
        let launched: Launched
        switch outcome {
        case .launched(let value):
            launched = value
        case .killed(let pid, let error):
            _ = try? await engine.reaper.wait(pid)
            engine.reaper.forget(pid)
            throw error
        }
        do {
            try await answer(launched, request: request, operation: operation)
        } catch {
            kill(pid: launched.pid)
            _ = try? await engine.reaper.wait(launched.pid)
            engine.reaper.forget(launched.pid)
            close(launched.socket.fd)
            throw error
        }
        return launched
    }

    private func spawn(exe: Int32, sync: Int32, pidns: Int32, flags: Int32, stdio: ProcessStdio, uidMap: String, gidMap: String) -> pid_t {
        let fds = stdio.childFDs
        let engine = self.engine
        engine.zygote.startIfNeeded(engine: engine)
        return engine.reaper.spawn { () -> pid_t in
            Self.withSpawnConfig(
                exe: exe, command: "init", stdio: (fds[0], fds[1], fds[2]), sync: sync,
                flags: UInt(UInt32(bitPattern: flags)), pidns: pidns, uidMap: uidMap, gidMap: gidMap
            ) { config in
                if let pid = engine.zygote.spawn(&config, engine: engine) { return pid }
                return engine_spawn(&config)
            }
        }
    }

    /// `body` with the engine_spawn_config that re-executes `exe` as `kata-agent <command>`
    /// with an empty environment (the C strings live only as long as the call).
    static func withSpawnConfig(
        exe: Int32, command: String, stdio: (Int32, Int32, Int32), sync: Int32, flags: UInt, pidns: Int32,
        uidMap: String, gidMap: String, _ body: (inout engine_spawn_config) -> pid_t
    ) -> pid_t {
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("kata-agent"), strdup(command), nil]
        var envp: [UnsafeMutablePointer<CChar>?] = [nil]
        defer { for p in argv { free(p) } }
        return argv.withUnsafeMutableBufferPointer { argvBuffer in
            envp.withUnsafeMutableBufferPointer { envBuffer in
                uidMap.withCString { uidText in
                    gidMap.withCString { gidText in
                        var config = engine_spawn_config(
                            exe_fd: exe, argv: argvBuffer.baseAddress, envp: envBuffer.baseAddress,
                            stdin_fd: stdio.0, stdout_fd: stdio.1, stderr_fd: stdio.2, sync_fd: sync,
                            clone_flags: flags, pidns_fd: pidns, uid_map: uidText, gid_map: gidText)
                        return body(&config)
                    }
                }
            }
        }
    }

    /// The parent-side steps runc's parent process does while the child waits for its config.
    private func prepare(pid: pid_t, request: Request) throws {
        let id = request.config.containerID
        // The id maps of a new user namespace were written by engine_spawn, before the exec.
        if let cgroup = request.cgroup {
            do {
                try cgroup.addProcess(pid)
            } catch {
                throw EngineError(.system, "join cgroup", container: id, "\(error)")
            }
        }
        let limits = request.config.process.rlimits ?? []
        if !limits.contains(where: { $0.type == "RLIMIT_NOFILE" }), let inherited = OpenFileLimit.inherited,
            let resource = Rlimits.resource("RLIMIT_NOFILE")
        {
            // The agent raised its own limit (OpenFileLimit); the container keeps the one the agent inherited.
            let rc = engine_prlimit(pid, resource, inherited.soft, inherited.hard)
            if rc < 0 { throw EngineError.sys("set rlimit", id, "RLIMIT_NOFILE soft=\(inherited.soft) hard=\(inherited.hard)", -rc) }
        }
        for limit in limits {
            guard let resource = Rlimits.resource(limit.type) else {
                throw EngineError(.invalidSpec, "set rlimit", container: id, "unknown rlimit type \(limit.type)")
            }
            let rc = engine_prlimit(pid, resource, limit.soft, limit.hard)
            if rc < 0 { throw EngineError.sys("set rlimit", id, "\(limit.type) soft=\(limit.soft) hard=\(limit.hard)", -rc) }
        }
        if let adj = request.config.process.oomScoreAdj {
            try writeFile("/proc/\(pid)/oom_score_adj", "\(adj)", id: id)
        }
    }

    private func answer(_ launched: Launched, request: Request, operation: String) async throws {
        let id = request.config.containerID
        let mode = request.config.mode
        var message = try await receive(launched.socket, id: id, operation: operation)
        if mode == .create, message?.kind == .hooks, let runtimeHooks = request.runtimeHooks {
            // The init waits before pivot_root; a failure here kills it (launch's catch).
            try await runtimeHooks(launched.pid)
            do {
                try await Blocking.run { try launched.socket.send(SyncMessage(kind: .hooksDone)) }
            } catch {
                throw EngineError(.system, operation, container: id, "resume container init after hooks: \(error)")
            }
            message = try await receive(launched.socket, id: id, operation: operation)
        }
        switch (mode, message?.kind) {
        case (.create, .ready?), (.exec, nil):
            return
        case (_, .error?):
            throw EngineError(Self.kind(of: message), operation, container: id,
                              message?.message ?? "container init failed", errno: message?.errno ?? 0)
        case (.create, nil):
            throw EngineError(.system, operation, container: id, "container init exited before it was ready")
        default:
            throw EngineError(.system, operation, container: id, "unexpected message from container init")
        }
    }

    /// The init's next message, nil when it closed the socket (exec'd, or died).
    private func receive(_ socket: SyncSocket, id: String, operation: String) async throws -> SyncMessage? {
        do {
            return try await Blocking.run { () throws -> SyncMessage? in
                do {
                    return try socket.receive()
                } catch SyncSocket.Failure.closed {
                    return nil
                }
            }
        } catch let failure as SyncSocket.Failure {
            if case .io(let code) = failure, code == EAGAIN {
                throw EngineError(.timeout, operation, container: id, "container init did not answer in time")
            }
            throw EngineError(.system, operation, container: id, "container init: \(failure)")
        }
    }

    /// The milliseconds `hooks` may take at most (each its timeout, or the default).
    static func budget(_ hooks: [Hook]) -> Int32 {
        // Each timeout clamped, so a huge one from the request cannot overflow the sum.
        let seconds = hooks.reduce(Int64(0)) { $0 + min(Int64(max(1, $1.timeout ?? HookRunner.defaultTimeoutSeconds)), Int64(Int32.max)) }
        return Int32(clamping: min(seconds, Int64(Int32.max)) * 1000)
    }

    /// Missing executables and bad specs found by the init are the caller's mistakes.
    static func kind(of message: SyncMessage?) -> EngineError.Kind {
        guard let text = message?.message else { return .system }
        if text.hasPrefix("exec") && (message?.errno == ENOENT || message?.errno == EACCES) { return .invalidSpec }
        if text.contains("not supported by this build") { return .unsupported }
        return .system
    }

    static func idMap(_ mappings: [LinuxIDMapping]) -> String {
        mappings.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
    }

    private func writeFile(_ path: String, _ text: String, id: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EngineError.sys("write", id, path, errno) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = Glibc.write(fd, bytes, bytes.count)
        if n != bytes.count { throw EngineError.sys("write", id, "\(path) (\(text.trimmingWhitespace()))", errno) }
    }

    private func kill(pid: pid_t) {
        try? engine.reaper.signal(pid, SIGKILL)
    }
}

/// OCI rlimit names to resource numbers.
enum Rlimits {
    static let names = [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
        "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
        "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ]

    static func resource(_ name: String) -> Int32? {
        names.firstIndex(of: name).map(Int32.init)
    }
}
