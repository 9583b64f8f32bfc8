import Foundation
import Logging
import XCTest

@testable import AgentServer
@testable import Sandbox

/// kata-agent as PID 1 serves a unix listener only to processes in its own mount namespace: in a
/// guest every other process is a container's, and an abstract socket is reachable from the
/// network namespace containers share.
final class UnixPeerPolicyTests: XCTestCase {
    /// A raw ttrpc Health.Check over the socket; prints "answered" or "closed".
    private static let client = """
        import socket, struct, sys
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20)
        s.connect(sys.argv[1])
        body = b'\\x0a\\x0bgrpc.Health\\x12\\x05Check\\x1a\\x00'
        try:
            s.sendall(struct.pack('>IIBB', len(body), 1, 1, 0) + body)
            data = s.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            data = b''
        print('answered' if data else 'closed')
        """

    private static func run(_ argv: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testAnotherMountNamespaceIsRefusedTheSameIsServed() async throws {
        try requireRoot("a client in another mount namespace needs unshare -m")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            throw XCTSkip("util-linux unshare is needed")
        }
        let directory = try makeTemporaryDirectory(for: self, "unix-peers")
        let path = directory + "/agent.sock"
        var logger = Logger(label: "unix-peer-test")
        logger.logLevel = .critical
        let options = AgentServer.Options(
            address: .unix(path: path), agentVersion: "peer-test", unixPeers: .sameMountNamespace)
        let server = Task { [logger] in
            try await AgentServer.run(options: options, sandbox: SandboxState(environment: .live(logger: logger)), logger: logger)
        }
        defer { server.cancel() }
        // The socket exists once the server listens.
        let deadline = Date(timeIntervalSinceNow: 30)
        while !FileManager.default.fileExists(atPath: path) {
            XCTAssertLessThan(Date(), deadline, "the server did not listen")
            try await Task.sleep(for: .milliseconds(10))
        }
        let python = "/usr/bin/python3"
        XCTAssertEqual(try Self.run([python, "-c", Self.client, path]), "answered")
        XCTAssertEqual(try Self.run(["/usr/bin/unshare", "-m", python, "-c", Self.client, path]), "closed")
        XCTAssertEqual(try Self.run([python, "-c", Self.client, path]), "answered", "the listener still serves")
    }
}
