import CLinuxShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LinuxKit
import OCISpec
#if canImport(Glibc)
import Glibc
#endif

/// Runs OCI hooks: each with the container state JSON on stdin, its own process group, and a
/// deadline after which the whole group is killed. Spawned through the reaper.
public struct HookRunner: Sendable {
    /// Upstream's timeout when a hook gives none.
    public static let defaultTimeoutSeconds = 10
    /// How much of a failed hook's output goes into the error.
    static let outputTail = 2048

    public let reaper: Reaper

    public init(reaper: Reaper) {
        self.reaper = reaper
    }

    /// Runs `hooks` in order; the first failure stops the rest and is thrown.
    public func run(_ hooks: [Hook], kind: HookKind, state: State) async throws {
        let json = try JSONEncoder().encode(state)
        for hook in hooks {
            try await run(hook, kind: kind, stateJSON: Array(json))
        }
    }

    /// Runs every hook even when some fail, and returns the failures in order. The runtime
    /// spec asks this for poststart and poststop (log a warning, carry on).
    public func runAll(_ hooks: [Hook], kind: HookKind, state: State) async -> [Error] {
        let json: Data
        do { json = try JSONEncoder().encode(state) } catch { return [error] }
        var failures: [Error] = []
        for hook in hooks {
            do { try await run(hook, kind: kind, stateJSON: Array(json)) } catch { failures.append(error) }
        }
        return failures
    }

    /// Runs the hooks of `kind` in `hooks` (spec and guest hooks already merged).
    public func run(_ kind: HookKind, of hooks: Hooks?, state: State) async throws {
        try await run(kind.hooks(in: hooks), kind: kind, state: state)
    }

    func run(_ hook: Hook, kind: HookKind, stateJSON: [UInt8]) async throws {
        guard hook.path.hasPrefix("/") else {
            throw HookError.invalid(kind: kind, path: hook.path, reason: "path must be absolute")
        }
        if let timeout = hook.timeout, timeout <= 0 || timeout > SpecValidation.maxHookTimeoutSeconds {
            throw HookError.invalid(
                kind: kind, path: hook.path, reason: "timeout \(timeout) is outside 1...\(SpecValidation.maxHookTimeoutSeconds) seconds")
        }
        let seconds = hook.timeout ?? Self.defaultTimeoutSeconds
        // stdin is a socket so that writing to a hook that exited without reading gives EPIPE
        // (MSG_NOSIGNAL) instead of SIGPIPE in the agent.
        var stdinPair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &stdinPair) == 0 else {
            throw HookError.spawn(kind: kind, path: hook.path, errno: errno)
        }
        let output = security_memfd("hook-output")
        guard output >= 0 else {
            let code = errno
            close(stdinPair[0])
            close(stdinPair[1])
            throw HookError.spawn(kind: kind, path: hook.path, errno: code)
        }
        defer { close(output) }
        let pid: pid_t
        do {
            pid = try reaper.spawn(
                path: hook.path, arguments: hook.args ?? [hook.path], environment: hook.env ?? [],
                fileActions: [.dup2(from: stdinPair[1], to: 0), .dup2(from: output, to: 1), .dup2(from: output, to: 2)],
                closeDescriptorsFrom: 3, session: .newProcessGroup)
        } catch {
            close(stdinPair[0])
            close(stdinPair[1])
            throw HookError.spawn(kind: kind, path: hook.path, errno: error.errno)
        }
        close(stdinPair[1])
        Self.send(stateJSON, to: stdinPair[0])
        close(stdinPair[0])
        defer { reaper.forget(pid) }

        let status = try await waitOrKill(pid: pid, seconds: seconds)
        guard let status else {
            throw HookError.timeout(kind: kind, path: hook.path, seconds: seconds)
        }
        guard status == 0 else {
            // A failed step leaves nothing behind: what the hook started in its group dies too.
            // The group id cannot have been reused while the group has members; once it has
            // none this finds nobody (a new group with that id needs a full pid wrap-around).
            _ = kill(-pid, SIGKILL)
            throw HookError.failed(kind: kind, path: hook.path, status: status, output: Self.tail(of: output))
        }
    }

    /// The exit status, or nil when the deadline passed first (the group is then killed
    /// and reaped before returning).
    private func waitOrKill(pid: pid_t, seconds: Int) async throws -> Int32? {
        let reaper = self.reaper
        return try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask { try await reaper.wait(pid) }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { return nil }
            if let status = first { return status }
            // Deadline: kill the hook and anything it started, then collect its status.
            try? reaper.signal(pid, SIGKILL, processGroup: true)
            while let next = try await group.next() {
                if next != nil { break }
            }
            return nil
        }
    }

    /// Writes the state without blocking the agent on a hook that does not read stdin: what
    /// the socket buffer cannot take is dropped (the state is small; a hook that ignores its
    /// stdin does not need it).
    static func send(_ bytes: [UInt8], to fd: Int32) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
        shutdown(fd, Int32(SHUT_WR))
    }

    static func tail(of fd: Int32) -> String {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return "" }
        let start = max(0, Int(size) - outputTail)
        var buffer = [UInt8](repeating: 0, count: Int(size) - start)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        guard n > 0 else { return "" }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmingWhitespace()
    }
}
