import Foundation
import LinuxKit
import Logging
import XCTest

/// `kata-agent-ctl console` as a user runs it, non-interactively (stdin from a file).
final class ConsoleCtlTests: XCTestCase {
    struct Outcome {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    private func runConsole(_ arguments: [String], stdin: String) throws -> Outcome {
        let binary = AgentCtl.binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("kata-agent-ctl not found at \(binary): run `swift build --product kata-agent-ctl` or set KATA_AGENT_CTL_BIN")
        }
        let directory = try makeTemporaryDirectory(for: self, "console-ctl")
        let inPath = directory + "/stdin", outPath = directory + "/stdout", errPath = directory + "/stderr"
        try writeFile(inPath, stdin)
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer { try? input.close(); try? out.close(); try? err.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if exited.wait(timeout: .now() + 60) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
            XCTFail("kata-agent-ctl \(arguments) ran past 60 s; stderr: \((try? readFile(errPath)) ?? "")")
        }
        return Outcome(status: process.terminationStatus, stdout: try readFile(outPath), stderr: try readFile(errPath))
    }

    func testPipedSessionRunsTheCommandAndEndsWithTheShell() throws {
        let reaper = try Reaper(mode: .registeredOnly)
        defer { reaper.shutdown() }
        var logger = Logger(label: "console-ctl-test")
        logger.logLevel = .critical
        let console = try XCTUnwrap(DebugConsole(reaper: reaper, logger: logger))
        let directory = try makeTemporaryDirectory(for: self, "console")
        let path = directory + "/console.sock"
        let listener = try ConsoleListener.unix(path: path)
        console.serve(listener: listener)
        defer { console.stop(listener: listener) }

        // The shell echoes the typed line as o''k-$((6*7)); only its output reads ok-42.
        let result = try runConsole(["console", "--server-addr", "unix://\(path)"], stdin: "echo o''k-$((6*7))\nexit\n")
        XCTAssertEqual(result.status, 0, "stderr: \(result.stderr)")
        XCTAssertTrue(result.stdout.contains("ok-42"), "stdout: \(result.stdout.debugDescription)")
    }

    func testUnreachableConsoleIsOneErrorLine() throws {
        let result = try runConsole(["console", "--server-addr", "hvsock:///nonexistent/vmm.sock:1026"], stdin: "")
        XCTAssertEqual(result.status, 1)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("/nonexistent/vmm.sock"), result.stderr)
    }

    func testBadAddressIsAUsageError() throws {
        let result = try runConsole(["console", "--server-addr", "vsock://-1:1026"], stdin: "")
        XCTAssertEqual(result.status, 2, "stderr: \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("vsock://-1:1026"), result.stderr)
    }
}
