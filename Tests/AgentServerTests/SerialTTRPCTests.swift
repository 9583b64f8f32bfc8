import AgentWire
import Foundation
import GRPCCore
import KataProtocols
import Logging
import XCTest

@testable import AgentServer
@testable import LinuxKit
@testable import Sandbox

/// The agent's serial listener (AgentServerTransport `.serial`) found through a stand-in sysfs
/// whose port is a pty slave, with QEMU's chardev socket played by ChardevStandIn: the port
/// never hangs up, so each new host connection is found in the bytes alone, and each session
/// reaches the server over a socketpair (no socket of its own).
final class SerialTTRPCTests: XCTestCase {
    private var logger: Logger {
        var logger = Logger(label: "serial-ttrpc-test")
        logger.logLevel = .critical
        return logger
    }

    func testTwentyTTRPCReconnectsEachGetAnAnsweringSessionThenGRPC() async throws {
        let directory = try makeTemporaryDirectory(for: self, "serial-ttrpc")
        let portPath = directory + "/port.sock"
        let pty = try PtyPair.open()
        defer { close(pty.master) }
        var raw = termios()
        tcgetattr(pty.slave, &raw)
        cfmakeraw(&raw)
        tcsetattr(pty.slave, TCSANOW, &raw)
        let slavePath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(pty.slave)")
        // The listener opens the port itself; the slave stays open here so the pty lives.
        defer { close(pty.slave) }
        try FileManager.default.createDirectory(atPath: directory + "/sys/vport9p1", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/dev", withIntermediateDirectories: true)
        try writeFile(directory + "/sys/vport9p1/name", "test.port\n")
        try FileManager.default.createSymbolicLink(atPath: directory + "/dev/vport9p1", withDestinationPath: slavePath)
        let chardev = try ChardevStandIn(path: portPath, master: pty.master)
        defer { chardev.stop() }

        let transport = AgentServerTransport(
            listener: .serial(name: "test.port"), logger: logger,
            serialLookup: .init(sysfs: directory + "/sys", devices: directory + "/dev", timeout: 10))
        let options = AgentServer.Options(address: .serial(name: "test.port"), agentVersion: "serial-ttrpc")
        let sandbox = SandboxState(environment: .live(logger: logger))
        let server = GRPCServer(transport: transport, services: AgentServer.services(options: options, sandbox: sandbox, logger: logger))
        let serving = Task { try await server.serve() }
        defer {
            server.beginGracefulShutdown()
            serving.cancel()
        }
        _ = try await transport.listeningAddress

        for round in 1...20 {
            if round % 3 == 0 {
                // A client that makes one call and leaves without a word.
                let probe = try RawTTRPCClient.connect(path: portPath)
                XCTAssertEqual(try probe.call(1, "grpc.Health", "Check").status, .ok, "round \(round): probe")
            }
            let client = try RawTTRPCClient.connect(path: portPath)
            let check = try client.call(1, "grpc.Health", "Check")
            XCTAssertEqual(check.status, .ok, "round \(round)")
            let version = try client.call(3, "grpc.Health", "Version")
            XCTAssertEqual(try Grpc_VersionCheckResponse(serializedBytes: version.payload).agentVersion, "serial-ttrpc", "round \(round)")
        }
        // A gRPC host after the ttrpc ones: its preface starts a new session.
        try await GRPCTestClient.with(unixPath: portPath) { client in
            let health = Grpc_Health.Client(wrapping: client)
            let check = try await health.check(Grpc_CheckRequest(), options: AgentProcess.callOptions(seconds: 30))
            XCTAssertEqual(check.status, .serving)
        }
    }
}
