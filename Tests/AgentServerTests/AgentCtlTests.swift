import Foundation
import KataProtocols
import XCTest

/// kata-agent-ctl as a user runs it: the real binary, against a real kata-agent on a unix socket.
final class AgentCtlTests: XCTestCase {
    // MARK: without an agent: everything is checked before connecting

    func testListNamesEveryGeneratedMethod() throws {
        let result = try AgentCtl.run(["list", "--full"], in: self)
        XCTAssertEqual(result.status, 0, result.stderr)
        let expected = Grpc_AgentService.Method.descriptors.map(\.fullyQualifiedMethod)
            + Grpc_Health.Method.descriptors.map(\.fullyQualifiedMethod)
            + [Grpc_Health_V1_Health.Method.Check.descriptor.fullyQualifiedMethod]
        XCTAssertEqual(Set(result.stdoutLines), Set(expected))
        XCTAssertEqual(result.stdoutLines.count, 45)

        let bare = try AgentCtl.run(["list"], in: self)
        XCTAssertTrue(bare.stdoutLines.contains("CreateSandbox"))
        // "Check" is Kata's grpc.Health; the standard one needs its full name.
        XCTAssertTrue(bare.stdoutLines.contains("Check"))
        XCTAssertTrue(bare.stdoutLines.contains("grpc.health.v1.Health/Check"))
    }

    func testUnknownRPCIsOneErrorLine() throws {
        let result = try AgentCtl.run(
            ["connect", "--server-address", "unix:///nonexistent/agent.sock", "-c", "Check", "-c", "NoSuchRpc"],
            in: self)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stdout, "", "nothing may run when a command is invalid")
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("unknown RPC 'NoSuchRpc'"), result.stderr)
    }

    func testBadJSONIsOneErrorLine() throws {
        for (request, reason) in [
            (#"GetGuestDetails json://{"mem_block_size":tru}"#, "malformed"),
            (#"GetGuestDetails json://{"mem_blok_size":true}"#, "unknown field 'mem_blok_size'"),
            (#"GetGuestDetails {"mem_block_size":true}"#, "json://"),
            ("CopyFile file:///nonexistent/request.json", "cannot read request file"),
        ] {
            let result = try AgentCtl.run(
                ["connect", "--server-address", "unix:///nonexistent/agent.sock", "-c", request], in: self)
            XCTAssertNotEqual(result.status, 0, request)
            XCTAssertEqual(result.stderrLines.count, 1, "\(request): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(reason), "\(request): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", request)
        }
    }

    func testMissingSocketIsOneErrorLine() throws {
        let result = try AgentCtl.run(
            ["connect", "--server-address", "unix:///nonexistent/agent.sock", "-c", "Check"], in: self)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("/nonexistent/agent.sock"), result.stderr)
    }

    func testBadServerAddressIsOneErrorLine() throws {
        let result = try AgentCtl.run(["connect", "--server-address", "tcp://1.2.3.4:5", "-c", "Check"], in: self)
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("scheme"), result.stderr)
    }

    // MARK: against a real agent

    func testConnectRunsCommandsInOrderAndPrintsJSON() async throws {
        let agent = try await AgentProcess.start(for: self)
        for transport in AgentCtl.transports {
            try assertConnectRunsCommandsInOrder(agent, transport: transport)
        }
        await agent.assertServing()
    }

    private func assertConnectRunsCommandsInOrder(_ agent: AgentProcess, transport: [String]) throws {
        let result = try AgentCtl.run(
            transport + ["connect", "--server-address", "unix://" + agent.socketPath,
             "-c", "Check", "-c", #"GetGuestDetails json://{"mem_block_size":true}"#, "-c", "Version"],
            in: self)
        XCTAssertEqual(result.status, 0, "\(transport): \(result.stderr)")
        XCTAssertEqual(result.stdoutLines.count, 3, "\(transport): \(result.stdout)")
        guard result.stdoutLines.count == 3 else { return }

        XCTAssertEqual(try jsonObject(result.stdoutLines[0]) as? [String: String], ["status": "SERVING"])

        let details = try Grpc_GuestDetailsResponse(jsonString: result.stdoutLines[1])
        XCTAssertFalse(details.agentDetails.version.isEmpty)
        if let text = try? String(contentsOfFile: "/sys/devices/system/memory/block_size_bytes", encoding: .utf8),
           let size = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) {
            XCTAssertEqual(details.memBlockSizeBytes, size)
            // Upstream field names on output, uint64 as a JSON string (protobuf JSON mapping).
            XCTAssertEqual(try jsonObject(result.stdoutLines[1])["mem_block_size_bytes"] as? String, String(size))
        }

        let version = try jsonObject(result.stdoutLines[2])
        XCTAssertNotNil(version["agent_version"] as? String, result.stdoutLines[2])
        XCTAssertNotNil(version["grpc_version"] as? String, result.stdoutLines[2])
    }

    func testFailingRPCPrintsStatusAndStopsUnlessKeepGoing() async throws {
        let agent = try await AgentProcess.start(for: self)
        var lines: [String] = []
        for transport in AgentCtl.transports {
            lines.append(try assertFailingRPC(agent, transport: transport))
        }
        // One error mapping serves both protocols: the same request fails with the same line.
        XCTAssertEqual(Set(lines).count, 1, "\(lines)")
    }

    /// The error line of the failed RPC.
    private func assertFailingRPC(_ agent: AgentProcess, transport: [String]) throws -> String {
        let address = "unix://" + agent.socketPath
        let failing = #"WaitProcess json://{"container_id":"no-such-container","exec_id":"x"}"#

        let stopped = try AgentCtl.run(
            transport + ["connect", "--server-address", address, "-c", failing, "-c", "Check"], in: self)
        XCTAssertEqual(stopped.status, 1)
        XCTAssertEqual(stopped.stdout, "", "the command after a failure must not run")
        XCTAssertEqual(stopped.stderrLines.count, 1, stopped.stderr)
        XCTAssertTrue(stopped.stderr.contains("WaitProcess failed: "), stopped.stderr)
        XCTAssertNotNil(Self.statusName(in: stopped.stderr), stopped.stderr)

        XCTAssertTrue(stopped.stderr.contains("NOT_FOUND"), stopped.stderr)

        let kept = try AgentCtl.run(
            transport + ["connect", "--server-address", address, "--keep-going", "-c", failing, "-c", "Check"], in: self)
        XCTAssertEqual(kept.status, 1)
        XCTAssertEqual(kept.stdoutLines, [#"{"status":"SERVING"}"#])
        XCTAssertEqual(kept.stderrLines.count, 1, kept.stderr)
        return stopped.stderr
    }

    func testTimeoutIsTheCallsDeadlineOnBothTransports() async throws {
        let agent = try await AgentProcess.start(for: self)
        // GetOOMEvent is a long poll with no OOM to report: --timeout ends it (over ttrpc the
        // agent enforces it from timeout_nano).
        for transport in AgentCtl.transports {
            let result = try AgentCtl.run(
                transport + ["--server-addr", "unix://" + agent.socketPath, "--timeout", "1", "call", "GetOOMEvent"],
                in: self)
            XCTAssertEqual(result.status, 1, "\(transport): \(result.stderr)")
            XCTAssertEqual(result.stderrLines.count, 1, "\(transport): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("GetOOMEvent failed: DEADLINE_EXCEEDED"), "\(transport): \(result.stderr)")
        }
        await agent.assertServing()
    }

    /// A timeout too large for any clock (up to UInt.max seconds) is as good as none: the call
    /// is made on both transports, where converting it to nanoseconds used to trap.
    func testHugeTimeoutIsNoDeadlineOnBothTransports() async throws {
        let agent = try await AgentProcess.start(for: self)
        for transport in AgentCtl.transports {
            for timeout in ["18446744073709551615", "9223372036854775807"] {
                let result = try AgentCtl.run(
                    transport + ["--server-addr", "unix://" + agent.socketPath, "--timeout", timeout, "call", "Check"],
                    in: self)
                XCTAssertEqual(result.status, 0, "\(transport) --timeout \(timeout): \(result.stderr)")
                XCTAssertEqual(result.stdoutLines, [#"{"status":"SERVING"}"#], "\(transport) --timeout \(timeout)")
            }
        }
    }

    func testCallSubcommandAndStandardHealth() async throws {
        let agent = try await AgentProcess.start(for: self)
        let address = "unix://" + agent.socketPath
        for transport in AgentCtl.transports {
            // The e2e harness's form: the address before the subcommand.
            let call = try AgentCtl.run(
                ["--server-addr", address] + transport
                    + ["call", "GetGuestDetails", "--json", #"{"mem_hotplug_probe":true}"#, "--timeout", "30"],
                in: self)
            XCTAssertEqual(call.status, 0, "\(transport): \(call.stderr)")
            XCTAssertEqual(call.stdoutLines.count, 1, call.stdout)
            XCTAssertNoThrow(try Grpc_GuestDetailsResponse(jsonString: call.stdout))

            // Global options after the subcommand too.
            let standard = try AgentCtl.run(
                ["call", "grpc.health.v1.Health/Check", "--server-address", address] + transport, in: self)
            XCTAssertEqual(standard.status, 0, "\(transport): \(standard.stderr)")
            XCTAssertEqual(standard.stdoutLines, [#"{"status":"SERVING"}"#])

            // A failing call is one error line and exit 1, and the connection still shuts down
            // (over gRPC a client whose body failed used to wait for the connection forever).
            let failing = try AgentCtl.run(
                ["--server-addr", address] + transport + ["call", "StatsContainer", "--json", #"{"container_id":"nope"}"#],
                in: self)
            XCTAssertEqual(failing.status, 1, "\(transport): \(failing.stderr)")
            XCTAssertEqual(failing.stdoutLines, [])
            XCTAssertEqual(failing.stderrLines.count, 1, failing.stderr)
            XCTAssertEqual(failing.stderrLines.first.flatMap(Self.statusName), "NOT_FOUND", failing.stderr)
        }
    }

    func testDefaultTransportIsTTRPCWithTheDeadlineAsTimeoutNano() throws {
        // A fake agent that records the first request frame and answers NOT_FOUND.
        let directory = try makeTemporaryDirectory(for: self, "ctl-ttrpc")
        let server = try FakeTTRPCServer(path: directory + "/agent.sock",
                                         answer: TTRPCBytes.response(code: 5, message: "no such thing"))
        let result = try AgentCtl.run(
            ["--server-addr", "unix://" + server.path, "--timeout", "7", "call", "Version"], in: self)
        let request = try XCTUnwrap(server.wait(), "kata-agent-ctl sent no ttrpc frame")
        XCTAssertEqual(request.streamID, 1)
        XCTAssertEqual(request.type, 1, "a request frame")
        XCTAssertEqual(request.service, "grpc.Health")
        XCTAssertEqual(request.method, "Version")
        XCTAssertEqual(request.timeoutNano, 7_000_000_000)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderrLines, ["kata-agent-ctl: Version failed: NOT_FOUND: no such thing"])
    }

    /// The client's frame decoder (AgentWire's, as the server's): an answer that is not ttrpc
    /// ends the call with one line naming it, and a frame over the limit is refused by size.
    func testAnswerThatCannotBeFramedOrIsOversizedIsOneErrorLine() throws {
        let directory = try makeTemporaryDirectory(for: self, "ctl-frames")
        let garbage = try FakeTTRPCServer(path: directory + "/garbage.sock", answer: Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8), raw: true)
        var result = try AgentCtl.run(["--server-addr", "unix://" + garbage.path, "call", "Check"], in: self)
        XCTAssertNotNil(garbage.wait())
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("cannot be framed") && result.stderr.contains("not a ttrpc stream"), result.stderr)
        // A response header announcing 5 MiB (over ttrpc's 4 MiB) on stream 1, then nothing.
        let oversized = try FakeTTRPCServer(path: directory + "/big.sock", answer: [0, 0x50, 0, 0, 0, 0, 0, 1, 2, 0], raw: true)
        result = try AgentCtl.run(["--server-addr", "unix://" + oversized.path, "call", "Check"], in: self)
        XCTAssertNotNil(oversized.wait())
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("exceeds"), result.stderr)
    }

    func testHybridVsockAddressSendsConnectThenTTRPC() throws {
        // A fake VMM socket: `CONNECT 1024`, `OK ...`, then the agent's ttrpc.
        let directory = try makeTemporaryDirectory(for: self, "ctl-hvsock")
        let server = try FakeTTRPCServer(path: directory + "/vmm.sock",
                                         answer: TTRPCBytes.response(code: 5, message: "through the VMM"),
                                         hybridVsock: true)
        let result = try AgentCtl.run(["--server-addr", "hvsock://" + server.path + ":1024", "call", "Check"], in: self)
        let request = try XCTUnwrap(server.wait(), "kata-agent-ctl sent no ttrpc frame")
        XCTAssertEqual(request.connectLine, "CONNECT 1024\n")
        XCTAssertEqual(request.method, "Check")
        XCTAssertEqual(request.timeoutNano, 0, "no --timeout: no deadline")
        XCTAssertEqual(result.stderrLines, ["kata-agent-ctl: Check failed: NOT_FOUND: through the VMM"])
    }

    func testUnknownTransportIsAUsageError() throws {
        let result = try AgentCtl.run(["--transport", "http", "call", "Check", "--server-addr", "unix:///x"], in: self)
        XCTAssertEqual(result.status, 64, result.stderr)
        XCTAssertTrue(result.stderr.contains("transport"), result.stderr)
    }

    func testAbstractSocketAddress() async throws {
        // AgentProcess waits for a socket file, which an abstract address never creates: start
        // the agent here and wait until kata-agent-ctl gets an answer through the address.
        guard FileManager.default.isExecutableFile(atPath: AgentProcess.binaryPath) else {
            throw XCTSkip("kata-agent binary not found at \(AgentProcess.binaryPath)")
        }
        let name = "kata-agent-ctl-test-\(UUID().uuidString.prefix(8))"
        let directory = try makeTemporaryDirectory(for: self, "ctl-agent")
        let log = directory + "/agent.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: AgentProcess.binaryPath)
        var environment = ProcessInfo.processInfo.environment
        environment["KATA_AGENT_SERVER_ADDR"] = "unix://@" + name
        agent.environment = environment
        agent.standardOutput = logHandle
        agent.standardError = logHandle
        agent.standardInput = FileHandle.nullDevice
        try agent.run()
        try? logHandle.close()
        addTeardownBlock {
            if agent.isRunning { kill(agent.processIdentifier, SIGKILL) }
            agent.waitUntilExit()
        }

        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: AgentProcess.startDeadline)
        for transport in AgentCtl.transports {
            var last = AgentCtl.Result(status: -1, stdout: "", stderr: "not tried")
            while clock.now < deadline, agent.isRunning {
                last = try AgentCtl.run(
                    transport + ["connect", "--server-address", "unix://@" + name, "--timeout", "10",
                     "-c", "Check", "-c", #"GetGuestDetails json://{"mem_block_size":true}"#], in: self)
                if last.status == 0 { break }
                // Until the agent binds, each attempt fails at once with ECONNREFUSED.
                try await Task.sleep(for: .milliseconds(50))
            }
            XCTAssertEqual(last.status, 0, "\(transport): \(last.stderr)\nagent log:\n\((try? readFile(log)) ?? "")")
            XCTAssertEqual(last.stdoutLines.first, #"{"status":"SERVING"}"#)
            XCTAssertEqual(last.stdoutLines.count, 2, last.stdout)
        }
    }

    // MARK: helpers

    private func jsonObject(_ line: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try XCTUnwrap(object as? [String: Any], line)
    }

    private static func statusName(in line: String) -> String? {
        ["NOT_FOUND", "INVALID_ARGUMENT", "FAILED_PRECONDITION", "UNIMPLEMENTED", "INTERNAL", "UNKNOWN"]
            .first { line.contains(": \($0): ") }
    }
}

/// Runs the kata-agent-ctl binary with a deadline and collects its output.
enum AgentCtl {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
        var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    }

    static let deadline: TimeInterval = 120

    /// Both protocols, as the options that select them (ttrpc spelled out and by default).
    static let transports: [[String]] = [[], ["--transport", "grpc"], ["--transport", "ttrpc"]]

    static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["KATA_AGENT_CTL_BIN"], !path.isEmpty { return path }
        let package = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return package.appendingPathComponent(".build/debug/kata-agent-ctl").path
    }

    static func run(_ arguments: [String], in testCase: XCTestCase) throws -> Result {
        let binary = binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("kata-agent-ctl not found at \(binary): run `swift build --product kata-agent-ctl` or set KATA_AGENT_CTL_BIN")
        }
        // Files, not pipes: nothing to drain concurrently, and nothing lost on a kill.
        let directory = try makeTemporaryDirectory(for: testCase, "ctl")
        let outPath = directory + "/stdout", errPath = directory + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer { try? out.close(); try? err.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if exited.wait(timeout: .now() + deadline) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
            XCTFail("kata-agent-ctl \(arguments) ran past \(deadline) s; stderr: \((try? readFile(errPath)) ?? "")")
        }
        return Result(status: process.terminationStatus,
                      stdout: try readFile(outPath), stderr: try readFile(errPath))
    }
}
