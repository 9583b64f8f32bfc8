import AgentConfig
import AgentWireClient
import Foundation
import GRPCCore
import KataProtocols
import Logging
import XCTest

@testable import AgentServer
@testable import Sandbox

/// The server's listeners, run in-process: unix path, unix abstract (dialled by grpcio, which
/// speaks the exact-length abstract address other runtimes use), and a listener that cannot bind.
final class AgentServerListenerTests: XCTestCase {
    private func options(_ address: ServerAddress) -> AgentServer.Options {
        AgentServer.Options(address: address, agentVersion: "test-version")
    }

    private var logger: Logger {
        var logger = Logger(label: "agent-server-test")
        logger.logLevel = .critical
        return logger
    }

    func testUnixPathServesAndStopsOnCancel() async throws {
        let directory = try makeTemporaryDirectory(for: self, "listener")
        let path = directory + "/agent.sock"
        let options = options(.unix(path: path))
        let server = Task { [logger] in try await AgentServer.run(options: options, sandbox: SandboxState(environment: .live(logger: logger)), logger: logger) }

        try await GRPCTestClient.with(unixPath: path) { client in
            let health = Grpc_Health.Client(wrapping: client)
            let version = try await waitForVersion(health)
            XCTAssertEqual(version.agentVersion, "test-version")
            XCTAssertEqual(version.grpcVersion, "0.0.1")
        }
        server.cancel()
        // Cancelling the task shuts the server down gracefully; run returns.
        _ = await server.result
    }

    /// Retries until the listener is up (the server binds asynchronously), with a deadline.
    private func waitForVersion(_ health: Grpc_Health.Client<GRPCPlaintextClientTransport>) async throws -> Grpc_VersionCheckResponse {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(30))
        while true {
            do {
                return try await health.version(Grpc_CheckRequest(), options: AgentProcess.callOptions(seconds: 5))
            } catch {
                if clock.now >= deadline { throw error }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    func testAbstractSocketAnswersAnExactLengthClient() async throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python), run(python, ["-c", "import grpc"]).status == 0 else {
            throw XCTSkip("python3 with grpcio (Debian python3-grpcio, in `make deps`) is needed to dial an abstract socket")
        }
        let name = "kata-swift-test-\(UUID().uuidString.prefix(8))"
        let options = options(.unixAbstract(name: name))
        let server = Task { [logger] in try await AgentServer.run(options: options, sandbox: SandboxState(environment: .live(logger: logger)), logger: logger) }
        // grpc.Health/Check with an empty CheckRequest; SERVING encodes as field 1 = 1 (08 01).
        let script = """
            import grpc, sys
            channel = grpc.insecure_channel("unix-abstract:\(name)")
            grpc.channel_ready_future(channel).result(timeout=30)
            check = channel.unary_unary("/grpc.Health/Check", request_serializer=None, response_deserializer=None)
            sys.stdout.write(check(b"", timeout=30).hex())
            """
        let result = run(python, ["-c", script])
        server.cancel()
        _ = await server.result
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output.trimmingCharacters(in: .whitespacesAndNewlines), "0801", result.output)
    }

    func testAbstractNameBindsOnlyOnce() throws {
        let name = "kata-swift-test-\(UUID().uuidString.prefix(8))"
        let fd = try ListenerSocket.bindAbstract(name: name)
        defer { close(fd) }
        XCTAssertThrowsError(try ListenerSocket.bindAbstract(name: name)) { error in
            XCTAssertEqual((error as? ListenerError)?.errno, EADDRINUSE, "\(error)")
            XCTAssertTrue("\(error)".contains("unix://@\(name)"), "\(error)")
        }
    }

    func testListenerThatCannotBindThrows() async throws {
        let options = options(.unix(path: "/nonexistent-dir-\(UUID().uuidString)/agent.sock"))
        do {
            try await AgentServer.run(options: options, sandbox: SandboxState(environment: .live(logger: logger)), logger: logger)
            XCTFail("run returned although the socket cannot be bound")
        } catch {
            // Expected: the error reaches the caller (kata-agent logs it and, as PID 1, powers off).
        }
    }

    /// Runs a helper (tests may use Foundation.Process), returning its status and combined output.
    private func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
