import Glibc
import LinuxKit

/// Runs a guest tool (resize2fs, xfs_growfs) to completion: its exit status and the start of
/// what it printed. A seam: unit tests record the command lines instead.
public protocol CommandRunner: Sendable {
    /// Runs `tool` (a name looked up in the sbin/bin directories) with `arguments`.
    func run(_ tool: String, arguments: [String]) async throws(SandboxError) -> CommandResult
}

/// A finished command.
public struct CommandResult: Sendable, Equatable {
    /// The exit status (128 + signal when killed).
    public var status: Int32
    /// stdout and stderr together, at most `ReaperCommandRunner.outputLimit` bytes.
    public var output: String

    public init(status: Int32, output: String) {
        self.status = status
        self.output = output
    }
}

/// Spawns through the agent's reaper (never fork in Swift); output goes to an unlinked
/// temporary file, so a chatty tool can never block on a full pipe.
public struct ReaperCommandRunner: CommandRunner {
    public static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
    public static let outputLimit = 4096
    let reaper: Reaper

    public init(reaper: Reaper) {
        self.reaper = reaper
    }

    public func run(_ tool: String, arguments: [String]) async throws(SandboxError) -> CommandResult {
        guard let path = Self.searchPath.map({ $0 + "/" + tool }).first(where: { access($0, X_OK) == 0 }) else {
            throw SandboxError(.system, "\(tool) is not installed in the guest (looked in \(Self.searchPath.joined(separator: ", ")))",
                               errno: ENOENT)
        }
        var template = Array("/run/kata-agent-command-XXXXXX".utf8CString)
        let outputFD = mkstemp(&template)
        guard outputFD >= 0 else { throw SandboxError(.system, "\(tool): cannot create its output file", errno: errno) }
        _ = unlink(String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        defer { close(outputFD) }
        let nullFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if nullFD >= 0 { close(nullFD) } }
        let pid: pid_t
        do {
            pid = try reaper.spawn(path: path, arguments: [tool] + arguments,
                                   environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                   fileActions: [.dup2(from: nullFD >= 0 ? nullFD : outputFD, to: 0),
                                                 .dup2(from: outputFD, to: 1), .dup2(from: outputFD, to: 2)],
                                   closeDescriptorsFrom: 3)
        } catch {
            throw SandboxError(.system, "\(error)", errno: error.errno)
        }
        let status: Int32
        do {
            status = try await reaper.wait(pid)
        } catch {
            throw SandboxError(.system, "\(tool): waiting for pid \(pid) failed: \(error)")
        }
        var buffer = [UInt8](repeating: 0, count: Self.outputLimit)
        let count = pread(outputFD, &buffer, buffer.count, 0)
        let output = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
        return CommandResult(status: status, output: output.trimmingWhitespace())
    }
}
