import CLinuxShim
import Glibc

/// What a finished helper command left: exit status (code, or 128 + signal) and its output.
public struct CapturedOutput: Sendable, Equatable {
    public var status: Int32
    public var standardOutput: [UInt8]
    public var standardError: [UInt8]

    public init(status: Int32, standardOutput: [UInt8], standardError: [UInt8]) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
    }
}

/// Why a helper command could not run to completion.
public enum CommandCaptureError: Error, Sendable, Equatable, CustomStringConvertible {
    case spawn(SpawnError)
    case io(SyscallError)
    /// Killed after the deadline.
    case timedOut(path: String, seconds: Int)

    public var description: String {
        switch self {
        case let .spawn(error): "\(error)"
        case let .io(error): "\(error)"
        case let .timedOut(path, seconds): "\(path) did not finish within \(seconds) s and was killed"
        }
    }
}

extension Reaper {
    /// Runs a helper tool (iptables-save and the like) to completion: `input` on its stdin,
    /// stdout and stderr collected. All three are memfds, so neither side can block on a full
    /// pipe whatever the sizes. The child gets its own process group, killed with it after
    /// `timeoutSeconds`.
    public func runCapturing(
        path: String, arguments: [String], environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        input: [UInt8] = [], timeoutSeconds: Int = 30
    ) async throws(CommandCaptureError) -> CapturedOutput {
        let stdinFD = security_memfd("cmd-stdin")
        if stdinFD < 0 { throw .io(SyscallError.last("memfd_create", target: "stdin of \(path)")) }
        defer { close(stdinFD) }
        let stdoutFD = security_memfd("cmd-stdout")
        if stdoutFD < 0 { throw .io(SyscallError.last("memfd_create", target: "stdout of \(path)")) }
        defer { close(stdoutFD) }
        let stderrFD = security_memfd("cmd-stderr")
        if stderrFD < 0 { throw .io(SyscallError.last("memfd_create", target: "stderr of \(path)")) }
        defer { close(stderrFD) }

        do {
            try Self.writeAll(input, to: stdinFD, what: "stdin of \(path)")
        } catch {
            throw .io(error)
        }
        if lseek(stdinFD, 0, SEEK_SET) < 0 { throw .io(SyscallError.last("lseek", target: "stdin of \(path)")) }

        let pid: pid_t
        do {
            pid = try spawn(path: path, arguments: arguments, environment: environment,
                            fileActions: [.dup2(from: stdinFD, to: 0), .dup2(from: stdoutFD, to: 1), .dup2(from: stderrFD, to: 2)],
                            closeDescriptorsFrom: 3, session: .newProcessGroup)
        } catch {
            throw .spawn(error)
        }
        defer { forget(pid) }
        let status = await waitOrKill(pid, seconds: timeoutSeconds)
        guard let status else { throw .timedOut(path: path, seconds: timeoutSeconds) }
        do {
            return CapturedOutput(status: status, standardOutput: try Self.readAll(stdoutFD, what: "stdout of \(path)"),
                                  standardError: try Self.readAll(stderrFD, what: "stderr of \(path)"))
        } catch {
            throw .io(error)
        }
    }

    /// The exit status, or nil when the deadline came first (the group is killed and reaped).
    private func waitOrKill(_ pid: pid_t, seconds: Int) async -> Int32? {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask { (try? await self.wait(pid)) ?? -1 }
            group.addTask {
                // The deadline only: the status itself comes from the reaper.
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = await group.next() else { return nil }
            if let status = first { return status }
            try? self.signal(pid, SIGKILL, processGroup: true)
            while let next = await group.next() {
                if next != nil { break }
            }
            return nil
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32, what: String) throws(SyscallError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SyscallError.last("write", target: what)
            }
            offset += written
        }
    }

    private static func readAll(_ fd: Int32, what: String) throws(SyscallError) -> [UInt8] {
        if lseek(fd, 0, SEEK_SET) < 0 { throw SyscallError.last("lseek", target: what) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SyscallError.last("read", target: what)
            }
            if count == 0 { return result }
            result += chunk.prefix(count)
        }
    }
}
