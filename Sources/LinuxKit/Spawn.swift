import CLinuxShim
import Glibc

/// A file descriptor operation applied in a spawned child before exec, in order.
public enum SpawnFileAction: Sendable, Equatable {
    /// `dup2(from, to)`; `from == to` clears close-on-exec so the fd is inherited.
    case dup2(from: Int32, to: Int32)
    /// `close(fd)` in the child.
    case close(Int32)
}

/// How a spawned child relates to the agent's session and process group.
public enum SpawnSession: Sendable, Equatable {
    /// Same session and process group as the agent.
    case inherit
    /// `setsid()`: a new session and process group led by the child (no controlling tty;
    /// for one, spawn through a C shim with `Reaper.spawn(_:)`).
    case newSession
    /// `setpgid(0, 0)`: a new process group led by the child.
    case newProcessGroup
    /// `setpgid(0, pgid)`: join an existing process group.
    case joinProcessGroup(pid_t)
}

/// A failed spawn: which executable, and the errno (exec errors such as ENOENT included).
public struct SpawnError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    /// Why spawning was refused before any syscall (bad argument), when errno is 0.
    public let reason: String

    public init(path: String, errno: Int32, reason: String = "") {
        self.path = path
        self.errno = errno
        self.reason = reason
    }

    public var description: String {
        if errno == 0 { return "spawn \(path) failed: \(reason)" }
        return "spawn \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

extension Reaper {
    /// Starts `path` with posix_spawn and registers the pid with this reaper before it can
    /// be reaped. Await its exit status with `wait(_:)`.
    ///
    /// The child starts with default signal dispositions and an empty signal mask (the agent
    /// handles SIGCHLD; a child must not inherit that). Fds not named in `fileActions` are
    /// inherited unless close-on-exec, or closed when `closeDescriptorsFrom` is set (all fds
    /// >= that number, applied after `fileActions`).
    ///
    /// - Parameters:
    ///   - path: the executable; not searched in PATH (resolve it first).
    ///   - arguments: argv including argv[0]; defaults to `[path]`.
    ///   - environment: "KEY=VALUE" entries; the child's whole environment.
    ///   - fileActions: dup2/close operations run in the child, in order.
    ///   - closeDescriptorsFrom: close every fd >= this after the file actions (e.g. 3).
    ///   - workingDirectory: chdir in the child before exec.
    ///   - session: setsid / process-group handling.
    /// - Returns: the child's pid.
    @discardableResult
    public func spawn(
        path: String,
        arguments: [String]? = nil,
        environment: [String] = [],
        fileActions: [SpawnFileAction] = [],
        closeDescriptorsFrom: Int32? = nil,
        workingDirectory: String? = nil,
        session: SpawnSession = .inherit
    ) throws(SpawnError) -> pid_t {
        let argv = arguments ?? [path]
        for text in [path] + argv + environment + [workingDirectory ?? ""] where text.utf8.contains(0) {
            throw SpawnError(path: path, errno: 0, reason: "an argument, environment entry or directory contains a NUL byte")
        }
        guard !argv.isEmpty else {
            throw SpawnError(path: path, errno: 0, reason: "argv is empty")
        }
        let actions = fileActions.map { action -> core_spawn_action in
            switch action {
            case let .dup2(from, to): return core_spawn_action(kind: 0, fd: from, new_fd: to)
            case let .close(fd): return core_spawn_action(kind: 1, fd: fd, new_fd: -1)
            }
        }
        let (sessionKind, pgroup): (Int32, pid_t) = switch session {
        case .inherit: (0, 0)
        case .newSession: (1, 0)
        case .newProcessGroup: (2, 0)
        case let .joinProcessGroup(pgid): (2, pgid)
        }
        let cArgv = CStringArray(argv)
        let cEnv = CStringArray(environment)
        defer {
            cArgv.free()
            cEnv.free()
        }
        return try spawn { () throws(SpawnError) -> pid_t in
            var pid: pid_t = 0
            let rc = actions.withUnsafeBufferPointer { actionBuffer in
                withOptionalCString(workingDirectory) { cwd in
                    core_spawn(&pid, path, cArgv.pointers, cEnv.pointers, actionBuffer.baseAddress,
                               Int32(actionBuffer.count), closeDescriptorsFrom ?? -1, cwd, sessionKind, pgroup)
                }
            }
            if rc < 0 {
                throw SpawnError(path: path, errno: -rc)
            }
            return pid
        }
    }
}

/// A NULL-terminated `char *[]` owned until `free()`; built before the spawn so no Swift
/// allocation happens inside the locked region beyond the call itself.
struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() {
            pointers[index] = strdup(string)
        }
        pointers[strings.count] = nil
    }

    func free() {
        for index in 0..<count {
            Glibc.free(pointers[index])
        }
        pointers.deallocate()
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
