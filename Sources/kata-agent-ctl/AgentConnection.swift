import AgentConfig
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import LinuxKit
import NIOCore
import NIOPosix

/// Opens the gRPC connection for a server address (the agent's own `ServerAddress` forms).
enum AgentConnection {
    /// Runs `body` with a connected client, then shuts the connection down. `eventLoopGroup`
    /// is where the connection's I/O runs (the bench pins it to one loop it also runs tasks on).
    static func with<Result: Sendable>(
        address text: String, timeout: Duration?,
        eventLoopGroup: any EventLoopGroup = .singletonMultiThreadedEventLoopGroup,
        _ body: (AgentClient) async throws(CtlError) -> Result
    ) async throws(CtlError) -> Result {
        let address: ServerAddress
        do {
            address = try ServerAddress.parse(text)
        } catch {
            throw CtlError.usage("\(error)")
        }
        var bridge: AbstractSocketBridge?
        defer { bridge?.stop() }
        let target: any ResolvableTarget
        switch address {
        case let .vsock(cid, port):
            guard cid != ServerAddress.vsockCIDAny else {
                throw CtlError.usage("cannot connect to vsock CID -1 (any) in '\(text)': name the agent's CID")
            }
            target = .vsock(contextID: .init(rawValue: cid), port: .init(rawValue: port))
        case let .unix(path):
            guard FileManager.default.fileExists(atPath: path) else {
                throw CtlError.connection("cannot connect to \(text): no socket at \(path)")
            }
            target = .unixDomainSocket(path: path)
        case let .unixAbstract(name):
            let started: AbstractSocketBridge
            do {
                started = try AbstractSocketBridge(abstractName: name)
            } catch {
                throw CtlError.connection("cannot connect to \(text): \(error)")
            }
            bridge = started
            target = .unixDomainSocket(path: started.path)
        case .serial:
            throw CtlError.usage("\(text) is the agent's guest-side transport; from the host dial the VMM's chardev socket with unix:///path")
        }

        let transport: HTTP2ClientTransport.Posix
        do {
            transport = try HTTP2ClientTransport.Posix(
                target: target, transportSecurity: .plaintext, eventLoopGroup: eventLoopGroup)
        } catch {
            throw CtlError.connection("cannot set up a connection to \(text): \(error)")
        }
        do {
            return try await withGRPCClient(transport: transport) { client in
                try await body(AgentClient(client: client, timeout: timeout))
            }
        } catch let error as CtlError {
            throw error
        } catch {
            throw CtlError.connection("connection to \(text) failed: \(error)")
        }
    }
}
