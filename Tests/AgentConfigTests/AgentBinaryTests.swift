import Foundation
import XCTest

/// The kata-agent executable as an ordinary process: command line, configuration and logs.
final class AgentBinaryTests: XCTestCase {
    private func agentBinary() throws -> String {
        try builtAgentBinary()
    }

    /// Runs the agent until `until` holds for its stdout lines or `deadline` passes; always
    /// terminates it. Returns (stdout lines, exit status, stderr).
    private func run(_ arguments: [String], environment: [String: String] = [:], deadline: Double = 20,
                     until: @escaping ([String]) -> Bool = { _ in false }) throws -> ([String], Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try agentBinary())
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        var text = ""
        let end = Date().addingTimeInterval(deadline)
        let handle = out.fileHandleForReading
        while Date() < end {
            let chunk = handle.availableData  // blocks until data or EOF
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if until(text.split(separator: "\n").map(String.init)) { break }
        }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (text.split(separator: "\n").map(String.init), process.terminationStatus, errText)
    }

    private func json(_ line: String) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: String] ?? [:]
    }

    func testVersion() throws {
        let (lines, status, _) = try run(["--version"])
        XCTAssertEqual(status, 0)
        XCTAssertTrue(lines.first?.hasPrefix("kata-agent version ") ?? false, "\(lines)")
    }

    func testUnknownArgumentIsAnErrorOutsideInit() throws {
        let (_, status, err) = try run(["--frobnicate"])
        XCTAssertEqual(status, 2)
        XCTAssertTrue(err.contains("--frobnicate"), err)
    }

    func testMissingConfigFileFails() throws {
        let (_, status, err) = try run(["--config", "/nonexistent/agent.toml"])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(err.contains("/nonexistent/agent.toml"), err)
    }

    func testAnnounceShowsEffectiveConfigAndWarnings() throws {
        let dir = NSTemporaryDirectory() + "agent-bin-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/agent.toml"
        try "log_level = 'debug'\nhotplug_timeout = 0\nserver_addr = 'unix://\(dir)/agent.sock'\n".write(toFile: config, atomically: true, encoding: .utf8)
        let (lines, _, err) = try run(["--config", config], environment: ["KATA_AGENT_TRACING": "1"]) { lines in
            lines.contains { $0.contains("agent server listening") }
        }
        let records = lines.map(json)
        let announce = try XCTUnwrap(records.first, "no output; stderr: \(err)")
        XCTAssertEqual(announce["msg"], "announce")
        XCTAssertEqual(announce["name"], "kata-agent")
        XCTAssertEqual(announce["source"], "agent")
        let summary = announce["config"] ?? ""
        XCTAssertTrue(summary.contains("log_level=debug"), summary)
        XCTAssertTrue(summary.contains("tracing=true"), summary)
        XCTAssertTrue(summary.contains("hotplug_timeout=3s"), summary)
        XCTAssertTrue(summary.contains("server_addr=unix://\(dir)/agent.sock"), summary)
        XCTAssertTrue(records.contains { $0["level"] == "WARN" && $0["parameter"] == "hotplug_timeout" }, "\(lines)")
        XCTAssertTrue(records.contains { $0["msg"] == "agent server listening" }, "\(lines)\n\(err)")
    }

    func testDestroySandboxEndsTheAgentCleanly() throws {
        let agent = try agentBinary()
        let ctl = ProcessInfo.processInfo.environment["KATA_AGENT_CTL_BIN"]
            ?? URL(fileURLWithPath: agent).deletingLastPathComponent().appendingPathComponent("kata-agent-ctl").path
        guard FileManager.default.isExecutableFile(atPath: ctl) else { throw XCTSkip("kata-agent-ctl not built at \(ctl)") }
        let dir = NSTemporaryDirectory() + "agent-bin-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let address = "unix://\(dir)/agent.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: agent)
        process.environment = ["KATA_AGENT_SERVER_ADDR": address, "PATH": "/usr/bin:/bin"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // Wait for the listening line, with a deadline.
        var text = ""
        let end = Date().addingTimeInterval(20)
        while Date() < end, !text.contains("agent server listening") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        XCTAssertTrue(text.contains("agent server listening"), text)

        let client = Process()
        client.executableURL = URL(fileURLWithPath: ctl)
        client.arguments = ["connect", "--server-address", address, "-c", "Check", "-c", "DestroySandbox"]
        client.standardOutput = FileHandle.nullDevice
        try client.run()
        client.waitUntilExit()
        XCTAssertEqual(client.terminationStatus, 0)
        XCTAssertEqual(exited.wait(timeout: .now() + 20), .success, "agent did not exit after DestroySandbox")
        XCTAssertEqual(process.terminationStatus, 0)
    }
}
