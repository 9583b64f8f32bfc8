import AgentConfig
import AgentWireClient
import Foundation
import GRPCCore
import KataProtocols
import Logging
import XCTest

@testable import AgentServer
import Sandbox

/// A real kata-agent started as an ordinary process on a unix socket in a temporary directory,
/// for tests that drive it through the real gRPC stack.
///
/// Usage (from any test file in this target):
///
///     let agent = try await AgentProcess.start(for: self)
///     let reply = try await agent.agentService.getGuestDetails(.init())
///
/// `start` waits until grpc.Health/Check answers (with a deadline) and registers a teardown
/// block that always kills the agent and removes its directory, and prints the agent's log when
/// the test failed. The binary is `KATA_AGENT_BIN`, else `<package>/.build/debug/kata-agent`.
/// `KATA_AGENT_IN_PROCESS=1` runs `AgentServer.run` inside the test process instead, to debug the
/// RPC layer without the executable (no log then; init duties and main's wiring are not covered).
final class AgentProcess: @unchecked Sendable {
    /// The temporary directory holding the socket and the log; removed on teardown.
    let directory: URL
    let socketPath: String
    let logPath: String
    /// The gRPC client, connected once the agent's socket accepts (set before `start` returns).
    private(set) var client: GRPCClient<GRPCPlaintextClientTransport>!
    var agentService: Grpc_AgentService.Client<GRPCPlaintextClientTransport> { .init(wrapping: client) }
    var health: Grpc_Health.Client<GRPCPlaintextClientTransport> { .init(wrapping: client) }
    var standardHealth: Grpc_Health_V1_Health.Client<GRPCPlaintextClientTransport> { .init(wrapping: client) }

    private let process: Process?
    private let serverTask: Task<Void, any Error>?
    private var clientTask: Task<Void, any Error>?
    private let lock = NSLock()
    private var stopped = false

    /// The agent's pid; nil when it runs in the test process.
    var pid: pid_t? { process?.processIdentifier }

    /// How long the agent may take to answer its first Health.Check.
    static let startDeadline: Duration = .seconds(60)

    /// The kata-agent binary the tests run.
    static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["KATA_AGENT_BIN"], !path.isEmpty { return path }
        // This file is <package>/Tests/AgentServerTests/Support/AgentProcess.swift.
        let package = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return package.appendingPathComponent(".build/debug/kata-agent").path
    }

    /// Starts an agent for `testCase` and waits until it serves. `environment` adds to (and
    /// overrides) the inherited environment; `arguments` go to the agent's command line.
    /// `launcher` runs the agent through another program that execs it (e.g. `ip netns exec <ns>`).
    static func start(
        for testCase: XCTestCase, environment: [String: String] = [:], arguments: [String] = [], launcher: [String] = [],
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> AgentProcess {
        let binary = binaryPath
        let inProcess = ProcessInfo.processInfo.environment["KATA_AGENT_IN_PROCESS"] == "1"
        guard inProcess || FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("kata-agent binary not found at \(binary): run `swift build --product kata-agent` or set KATA_AGENT_BIN")
        }
        let agent = try AgentProcess(binary: inProcess ? nil : binary, environment: environment, arguments: arguments, launcher: launcher)
        // XCTestCase is not Sendable; the teardown block only reads whether the run failed.
        let box = TestCaseBox(testCase)
        testCase.addTeardownBlock {
            let failed = box.failed
            await agent.stop(printLog: failed)
        }
        do {
            try await agent.waitUntilServing(file: file, line: line)
        } catch {
            await agent.stop(printLog: true)
            throw error
        }
        return agent
    }

    private init(binary: String?, environment: [String: String], arguments: [String], launcher: [String] = []) throws {
        // sun_path holds 108 bytes: keep the directory short and under /tmp.
        directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("kata-agent-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        socketPath = directory.appendingPathComponent("agent.sock").path
        logPath = directory.appendingPathComponent("agent.log").path
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: logPath])
        }
        if let binary {
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: launcher.first ?? binary)
            process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [binary] + arguments
            var env = ProcessInfo.processInfo.environment
            env["KATA_AGENT_SERVER_ADDR"] = "unix://" + socketPath
            env["KATA_AGENT_LOG_LEVEL"] = env["KATA_AGENT_LOG_LEVEL"] ?? "debug"
            for (key, value) in environment { env[key] = value }
            process.environment = env
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            try? log.close()
            self.process = process
            serverTask = nil
        } else {
            let options = AgentServer.Options(address: .unix(path: socketPath), agentVersion: "in-process")
            let logger = Logger(label: "kata-agent-in-process")
            process = nil
            let sandbox = SandboxState(environment: .live(logger: logger))
            serverTask = Task { try await AgentServer.run(options: options, sandbox: sandbox, logger: logger) }
        }
    }

    /// Connects the client once the socket accepts; false while nothing listens yet.
    private func connectClient() async -> Bool {
        if client != nil { return true }
        let transport: GRPCPlaintextClientTransport
        do {
            transport = try await GRPCPlaintextClientTransport.open(unixPath: socketPath)
        } catch {
            return false
        }
        let client = GRPCClient(transport: transport)
        self.client = client
        clientTask = Task { try await client.runConnections() }
        return true
    }

    var isRunning: Bool { process?.isRunning ?? (serverTask != nil) }

    /// Waits for the socket and then for a SERVING Health.Check, failing early if the agent exits.
    private func waitUntilServing(file: StaticString, line: UInt) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: Self.startDeadline)
        var lastError: (any Error)?
        while clock.now < deadline {
            if let process, !process.isRunning {
                throw AgentProcessError.exited(status: process.terminationStatus, log: log())
            }
            if FileManager.default.fileExists(atPath: socketPath), await connectClient() {
                do {
                    let reply = try await health.check(Grpc_CheckRequest(), options: Self.callOptions(seconds: 5))
                    if reply.status == .serving { return }
                } catch {
                    lastError = error
                }
            }
            // Nothing to block on until the agent binds its socket; poll at a short interval.
            try await Task.sleep(for: .milliseconds(20))
        }
        throw AgentProcessError.notServing(deadline: Self.startDeadline, lastError: lastError.map { "\($0)" }, log: log())
    }

    /// Call options with a timeout, so no RPC in a test can hang forever.
    static func callOptions(seconds: Int64 = 30) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = .seconds(seconds)
        return options
    }

    /// Asserts the agent still answers Health.Check with SERVING (used after every bad input).
    func assertServing(file: StaticString = #filePath, line: UInt = #line) async {
        do {
            let reply = try await health.check(Grpc_CheckRequest(), options: Self.callOptions(seconds: 10))
            XCTAssertEqual(reply.status, .serving, "agent is not SERVING", file: file, line: line)
        } catch {
            XCTFail("agent no longer answers Health.Check: \(error)\n\(log())", file: file, line: line)
        }
    }

    /// The agent's output so far.
    func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "<no log at \(logPath)>"
    }

    /// Kills the agent (SIGKILL, then reaps it), closes the client and removes the directory.
    /// Safe to call more than once.
    func stop(printLog: Bool) async {
        let first: Bool = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        client?.beginGracefulShutdown()
        clientTask?.cancel()
        if let process {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        if let serverTask {
            serverTask.cancel()
            _ = await serverTask.result
        }
        _ = await clientTask?.result
        if printLog {
            print("---- kata-agent log (\(logPath)) ----\n\(log())\n---- end of kata-agent log ----")
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Lets a teardown block ask whether its test failed.
private final class TestCaseBox: @unchecked Sendable {
    private weak var testCase: XCTestCase?

    init(_ testCase: XCTestCase) { self.testCase = testCase }

    // hasSucceeded is false until the run stops, which is after teardown: count failures instead.
    var failed: Bool { testCase?.testRun.map { $0.totalFailureCount > 0 } ?? true }
}

/// Why an agent under test did not come up.
enum AgentProcessError: Error, CustomStringConvertible {
    case exited(status: Int32, log: String)
    case notServing(deadline: Duration, lastError: String?, log: String)

    var description: String {
        switch self {
        case let .exited(status, log):
            return "kata-agent exited with status \(status) before serving; log:\n\(log)"
        case let .notServing(deadline, lastError, log):
            return "kata-agent did not answer Health.Check within \(deadline) (last error: \(lastError ?? "none")); log:\n\(log)"
        }
    }
}
