import Glibc
import LinuxKit

/// Runs a guest tool with stdin and separate stdout/stderr. The seam under GetIPTables and
/// SetIPTables: unit tests answer in memory, the agent spawns through its reaper.
public protocol CapturingCommandRunner: Sendable {
    /// Whether `path` is an executable file.
    func isExecutable(_ path: String) -> Bool
    func run(path: String, arguments: [String], input: [UInt8]) async throws(SandboxError) -> CapturedOutput
}

/// Spawns through the agent's reaper (`Reaper.runCapturing`: memfds, deadline, own process group).
public struct ReaperCapturingRunner: CapturingCommandRunner {
    let reaper: Reaper

    public init(reaper: Reaper) {
        self.reaper = reaper
    }

    public func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 }

    public func run(path: String, arguments: [String], input: [UInt8]) async throws(SandboxError) -> CapturedOutput {
        do {
            return try await reaper.runCapturing(path: path, arguments: arguments, input: input)
        } catch {
            let code: Int32
            switch error {
            case let .spawn(spawn): code = spawn.errno
            case let .io(io): code = io.errno
            case .timedOut: code = ETIMEDOUT
            }
            throw SandboxError(.system, "run \(path): \(error)", errno: code)
        }
    }
}

/// GetIPTables / SetIPTables: iptables-save and iptables-restore (ip6tables-* for IPv6) of the
/// guest. A tool the guest image lacks is FAILED_PRECONDITION naming it; a tool that fails is
/// INTERNAL with its stderr.
struct IPTables {
    let runner: any CapturingCommandRunner
    /// Upstream looks in /usr/sbin and /sbin; /usr/bin and /bin cover merged or odd layouts.
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
    /// iptables-restore waits this long for the xtables lock instead of failing at once.
    static let lockWaitSeconds = "5"

    func save(ipv6: Bool) async throws(SandboxError) -> [UInt8] {
        let tool = ipv6 ? "ip6tables-save" : "iptables-save"
        let path = try locate(tool)
        let result = try await runner.run(path: path, arguments: [tool], input: [])
        try check(result, command: tool)
        return result.standardOutput
    }

    func restore(ipv6: Bool, rules: [UInt8]) async throws(SandboxError) -> [UInt8] {
        let tool = ipv6 ? "ip6tables-restore" : "iptables-restore"
        let path = try locate(tool)
        let arguments = [tool, "--wait", Self.lockWaitSeconds]
        let result = try await runner.run(path: path, arguments: arguments, input: rules)
        try check(result, command: arguments.joined(separator: " "))
        return result.standardOutput
    }

    private func locate(_ tool: String) throws(SandboxError) -> String {
        for directory in Self.searchPath where runner.isExecutable(directory + "/" + tool) {
            return directory + "/" + tool
        }
        throw SandboxError(.failedPrecondition,
                           "\(tool) is not installed in the guest image (looked in \(Self.searchPath.joined(separator: ", ")))",
                           errno: ENOENT)
    }

    private func check(_ result: CapturedOutput, command: String) throws(SandboxError) {
        guard result.status != 0 else { return }
        let stderr = String(decoding: result.standardError.prefix(4096), as: UTF8.self).trimmingWhitespace()
        throw SandboxError(.system, "\(command) exited with status \(result.status): \(stderr.isEmpty ? "(no stderr)" : stderr)")
    }
}
