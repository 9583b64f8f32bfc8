import CLinuxShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import OCISpec

/// Runs the hooks that belong inside the container (createContainer before pivot_root,
/// startContainer right before the exec) from `kata-agent init` itself, as runc's init does:
/// the init is single-threaded and already in the container's namespaces, so a plain
/// posix_spawn (no Swift code in the child) puts the hook there. The agent never forks here.
///
/// Each hook gets the state JSON on stdin (a memfd, so a hook that does not read it blocks
/// nobody), stdout/stderr collected in a memfd for the error, its own process group, and its
/// timeout (default 10 s). When a hook fails or times out its whole process group is killed
/// before the hook is reaped (so the group id cannot have been reused), leaving nothing behind.
enum InitHooks {
    static func run(_ kind: HookKind, hooks: [Hook], state: OCISpec.State?) throws {
        guard !hooks.isEmpty else { return }
        guard let state else {
            throw InitFailure("\(kind.rawValue) hooks", "the agent sent no container state for them")
        }
        let json: Data
        do {
            json = try JSONEncoder().encode(state)
        } catch {
            throw InitFailure("\(kind.rawValue) hooks", "encode state: \(error)")
        }
        for hook in hooks {
            if let error = runOne(hook, kind: kind, stateJSON: Array(json)) {
                throw InitFailure(error.description, errno: 0)
            }
        }
    }

    /// nil on success; otherwise the same errors the agent's HookRunner reports.
    static func runOne(_ hook: Hook, kind: HookKind, stateJSON: [UInt8]) -> HookError? {
        guard hook.path.hasPrefix("/") else {
            return .invalid(kind: kind, path: hook.path, reason: "path must be absolute")
        }
        if let timeout = hook.timeout, timeout <= 0 {
            return .invalid(kind: kind, path: hook.path, reason: "timeout \(timeout) must be positive")
        }
        let seconds = hook.timeout ?? HookRunner.defaultTimeoutSeconds
        let input = security_memfd("hook-state")
        guard input >= 0 else { return .spawn(kind: kind, path: hook.path, errno: errno) }
        defer { close(input) }
        let output = security_memfd("hook-output")
        guard output >= 0 else { return .spawn(kind: kind, path: hook.path, errno: errno) }
        defer { close(output) }
        let written = stateJSON.withUnsafeBytes { pwrite(input, $0.baseAddress, $0.count, 0) }
        guard written == stateJSON.count else { return .spawn(kind: kind, path: hook.path, errno: errno) }

        let pid: pid_t
        switch spawn(hook, stdin: input, output: output) {
        case .success(let child): pid = child
        case .failure(let code): return .spawn(kind: kind, path: hook.path, errno: code)
        }
        let status = waitOrKill(pid, seconds: seconds)
        guard let status else { return .timeout(kind: kind, path: hook.path, seconds: seconds) }
        guard status == 0 else {
            return .failed(kind: kind, path: hook.path, status: status, output: HookRunner.tail(of: output))
        }
        return nil
    }

    private enum Spawned {
        case success(pid_t)
        case failure(Int32)
    }

    private static func spawn(_ hook: Hook, stdin: Int32, output: Int32) -> Spawned {
        let argv = hook.args ?? [hook.path]
        let env = hook.env ?? []
        for text in [hook.path] + argv + env where text.utf8.contains(0) {
            return .failure(EINVAL)
        }
        var cArgv = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        defer {
            for pointer in cArgv { free(pointer) }
            for pointer in cEnv { free(pointer) }
        }
        // fd 3 (the sync socket) and everything else above stderr stays with the init.
        let actions = [
            core_spawn_action(kind: 0, fd: stdin, new_fd: 0),
            core_spawn_action(kind: 0, fd: output, new_fd: 1),
            core_spawn_action(kind: 0, fd: output, new_fd: 2),
        ]
        var pid: pid_t = 0
        let rc = cArgv.withUnsafeMutableBufferPointer { argvBuffer in
            cEnv.withUnsafeMutableBufferPointer { envBuffer in
                actions.withUnsafeBufferPointer { actionBuffer in
                    core_spawn(&pid, hook.path, argvBuffer.baseAddress, envBuffer.baseAddress, actionBuffer.baseAddress,
                               Int32(actionBuffer.count), 3, nil, 2, 0)
                }
            }
        }
        return rc < 0 ? .failure(-rc) : .success(pid)
    }

    /// The exit status (128 + signal when killed), or nil when the deadline passed. Either way
    /// the hook is reaped before returning; on failure or timeout its group is killed first.
    private static func waitOrKill(_ pid: pid_t, seconds: Int) -> Int32? {
        let deadline = monotonicMilliseconds() + Int64(seconds) * 1000
        let exited = waitForExit(pid, deadline: deadline)
        var status: Int32?
        if exited {
            status = exitStatus(pid)
        }
        if status != 0 {
            _ = kill(-pid, SIGKILL)
        }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        return status
    }

    /// Waits until `pid` is a zombie (not reaped) or the deadline passes. A pidfd gives a
    /// real timeout; when a seccomp profile refuses pidfd_open, a short WNOWAIT poll does.
    private static func waitForExit(_ pid: pid_t, deadline: Int64) -> Bool {
        let pidfd = core_pidfd_open(pid)
        if pidfd >= 0 {
            defer { close(pidfd) }
            while true {
                let remaining = deadline - monotonicMilliseconds()
                if remaining <= 0 { return false }
                var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                let rc = poll(&entry, 1, Int32(clamping: remaining))
                if rc > 0 { return true }
                if rc < 0 && errno != EINTR { break }
            }
        }
        while monotonicMilliseconds() < deadline {
            var info = siginfo_t()
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._sigchld.si_pid == pid {
                return true
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        return false
    }

    /// The status of an exited, not yet reaped child.
    private static func exitStatus(_ pid: pid_t) -> Int32 {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 {
            if errno != EINTR { return 255 }
        }
        let status = info._sifields._sigchld.si_status
        return info.si_code == Int32(CLD_EXITED) ? status : 128 + status
    }

    private static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
