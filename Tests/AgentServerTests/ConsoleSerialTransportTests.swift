import AgentConfig
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import KataProtocols
import LinuxKit
import Logging
import XCTest

@testable import AgentServer
@testable import Sandbox

/// The gRPC API through the serial transport's bridge, with a unix listener standing in for
/// the virtio-serial port (each connection one host session, as QEMU's chardev socket is).
final class ConsoleSerialTransportTests: XCTestCase {
    private var logger: Logger {
        var logger = Logger(label: "serial-transport-test")
        logger.logLevel = .critical
        return logger
    }

    func testServerAddressParsesSerial() throws {
        XCTAssertEqual(try ServerAddress.parse("serial://agent.channel.0"), .serial(name: "agent.channel.0"))
        XCTAssertEqual(ServerAddress.serial(name: "agent.channel.0").description, "serial://agent.channel.0")
        for bad in ["serial://", "serial://a/b", "serial://a b"] {
            XCTAssertThrowsError(try ServerAddress.parse(bad), bad)
        }
    }

    func testMissingPortIsAClearError() throws {
        let directory = try makeTemporaryDirectory(for: self, "noport")
        XCTAssertThrowsError(try VirtioSerialPort.waitFor(name: "agent.channel.0", timeout: 0, sysfs: directory)) { error in
            XCTAssertTrue("\(error)".contains("agent.channel.0"), "\(error)")
        }
    }

    func testHostReconnectGetsAFreshHTTP2Session() async throws {
        let directory = try makeTemporaryDirectory(for: self, "serial")
        let backend = directory + "/grpc.sock"
        let portPath = directory + "/port.sock"
        let options = AgentServer.Options(address: .unix(path: backend), agentVersion: "serial-test")
        let server = Task { [logger] in
            try await AgentServer.run(options: options, sandbox: SandboxState(environment: .live(logger: logger)), logger: logger)
        }
        defer { server.cancel() }

        let ended = ConsoleSessionMailbox()
        let bridge = try SerialBridge(
            source: ListenerSessionSource(listener: .unix(path: portPath)), backendPath: backend, logger: logger,
            onSessionEnd: { number, _ in ended.put(number) })
        bridge.start()
        defer { bridge.stop() }

        for round in 1...3 {
            let transport = try HTTP2ClientTransport.Posix(
                target: .unixDomainSocket(path: portPath), transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport) { client in
                let health = Grpc_Health.Client(wrapping: client)
                let version = try await health.version(Grpc_CheckRequest(), options: AgentProcess.callOptions(seconds: 30))
                XCTAssertEqual(version.agentVersion, "serial-test", "round \(round)")
                let check = try await health.check(Grpc_CheckRequest(), options: AgentProcess.callOptions(seconds: 30))
                XCTAssertEqual(check.status, .serving, "round \(round)")
            }
            // The client hung up: the bridge must end that session before the next host comes.
            let number = await ended.take(seconds: 30)
            XCTAssertEqual(number, round, "session \(round) did not end when the host disconnected")
        }
    }
}

/// Session numbers handed from the bridge's thread to the test, awaited off the cooperative pool.
final class ConsoleSessionMailbox: @unchecked Sendable {
    private var values: [Int] = []
    private let condition = NSCondition()

    func put(_ value: Int) {
        condition.lock()
        values.append(value)
        condition.broadcast()
        condition.unlock()
    }

    /// The next value, or nil after `seconds`; blocks a private thread, never a task's.
    func take(seconds: Double) async -> Int? {
        await withCheckedContinuation { continuation in
            Thread { [self] in
                let deadline = Date(timeIntervalSinceNow: seconds)
                condition.lock()
                while values.isEmpty, condition.wait(until: deadline) {}
                let value = values.isEmpty ? nil : values.removeFirst()
                condition.unlock()
                continuation.resume(returning: value)
            }.start()
        }
    }
}
