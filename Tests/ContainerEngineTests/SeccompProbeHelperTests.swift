import Foundation
import OCISpec
import XCTest

/// Runs the security-probe helper (Tests/SecurityProbe): it applies capabilities/seccomp to
/// itself and reports; tests cannot apply them to the test process, and Swift must not run
/// between fork and exec.
enum SecurityProbe {
    struct Config: Encodable {
        var capabilities: LinuxCapabilities?
        var seccomp: LinuxSeccomp?
        var noNewPrivileges: Bool?
        var uid: UInt32?
        var gid: UInt32?
        var unshare: [String]?
        var sysctls: [String: String]?
        var probes: [String]
    }

    struct Output: CustomStringConvertible {
        var values: [String: String] = [:]
        var warnings: [String] = []
        var raw = ""
        subscript(key: String) -> String? { values[key] }
        var description: String { raw }
    }

    static func requireRoot() throws {
        if getuid() != 0 { throw XCTSkip("needs root: applies capabilities/seccomp in a child process") }
    }

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["SECURITY_PROBE_BIN"] { return path }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return package.appendingPathComponent(".build/debug/security-probe").path
    }

    /// The /proc/<pid>/status hex mask of a set of capability numbers.
    static func mask(_ numbers: [Int]) -> String {
        let value = numbers.reduce(UInt64(0)) { $0 | (1 << UInt64($1)) }
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func run(_ config: Config, expectFailure: Bool = false) throws -> Output {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("security-probe not built at \(binary) (swift build --product security-probe)")
        }
        let configPath = NSTemporaryDirectory() + "probe-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: configPath) }
        try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: configPath))
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [configPath]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        if done.wait(timeout: .now() + 60) == .timedOut {
            process.terminate()
            XCTFail("security-probe did not exit within 60 s")
        }
        var output = Output()
        output.raw = String(decoding: data, as: UTF8.self)
        for line in output.raw.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            if parts[0] == "warning" { output.warnings.append(parts[1]) } else { output.values[parts[0]] = parts[1] }
        }
        if expectFailure {
            XCTAssertNotEqual(process.terminationStatus, 0, output.raw)
        } else {
            XCTAssertEqual(process.terminationStatus, 0, output.raw)
        }
        return output
    }
}
