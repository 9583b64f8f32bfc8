import Foundation
import Logging
import XCTest

@testable import AgentWire

extension XCTestCase {
    /// Runs an AgentServerTransport on a fresh unix socket with `handler` until the test ends
    /// (graceful shutdown, socket removed); returns the socket's path once it listens.
    /// `unary` are the methods its ttrpc codec calls directly; `box` gets the transport.
    func startTransport(
        _ handler: @escaping RPCStreamHandler, unary: WireUnaryMethods = WireUnaryMethods(), logger: Logger,
        prefix: String, box: TransportBox? = nil
    ) async throws -> String {
        let path = "/tmp/\(prefix)-\(UUID().uuidString.prefix(8)).sock"
        let transport = AgentServerTransport(listener: .unix(path: path), logger: logger, unaryMethods: unary)
        box?.transport = transport
        let listening = Task { try await transport.listen(streamHandler: handler) }
        addTeardownBlock {
            transport.beginGracefulShutdown()
            listening.cancel()
            _ = await listening.result
            unlink(path)
        }
        _ = try await transport.listeningAddress
        return path
    }
}
