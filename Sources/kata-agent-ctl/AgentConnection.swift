import AgentConfig
import AgentWireClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import LinuxKit
import NIOCore
import NIOPosix

/// Where the agent listens, as kata-agent-ctl accepts it: the agent's own `ServerAddress` forms
/// plus hybrid vsock (`hvsock:///vmm.sock:PORT`), how Cloud Hypervisor and Firecracker expose it.
enum AgentAddress {
    case vsock(cid: UInt32, port: UInt32)
    case unix(path: String)
    case unixAbstract(name: String)
    case hybrid(socketPath: String, port: UInt32)

    static func parse(_ text: String) throws(CtlError) -> AgentAddress {
        let lowered = text.lowercased()
        if lowered.hasPrefix("hvsock://") || lowered.hasPrefix("hybrid-vsock://") {
            do {
                guard case let .hybrid(path, port) = try ConsoleClient.Target.parse(text) else {
                    throw CtlError.usage("'\(text)' is not a hybrid vsock address")
                }
                return .hybrid(socketPath: path, port: port)
            } catch let error as CtlError {
                throw error
            } catch {
                throw CtlError.usage("\(error)")
            }
        }
        let address: ServerAddress
        do {
            address = try ServerAddress.parse(text)
        } catch {
            throw CtlError.usage("\(error)")
        }
        switch address {
        case let .vsock(cid, port):
            guard cid != ServerAddress.vsockCIDAny else {
                throw CtlError.usage("cannot connect to vsock CID -1 (any) in '\(text)': name the agent's CID")
            }
            return .vsock(cid: cid, port: port)
        case let .unix(path):
            return .unix(path: path)
        case let .unixAbstract(name):
            return .unixAbstract(name: name)
        case .serial:
            throw CtlError.usage("\(text) is the agent's guest-side transport; from the host dial the VMM's chardev socket with unix:///path")
        }
    }

    /// A connected blocking stream socket (the hybrid form has sent `CONNECT` and read `OK`).
    func dial() throws -> Int32 {
        switch self {
        case let .vsock(cid, port): return try Vsock.connect(cid: cid, port: port)
        case let .unix(path): return try UnixSocket.connect(path: path)
        case let .unixAbstract(name): return try UnixSocket.connect(path: "@" + name)
        case let .hybrid(socketPath, port): return try VsockHybrid.connect(socketPath: socketPath, port: port)
        }
    }
}

/// Opens the connection to an agent over ttrpc or gRPC.
enum AgentConnection {
    /// Runs `body` with a connected client, then shuts the connection down. `eventLoopGroup`
    /// is where the connection's I/O runs (the bench pins it to one loop it also runs tasks on).
    static func with<Result: Sendable>(
        address text: String, transport: WireTransport, timeout: Duration?,
        eventLoopGroup: any EventLoopGroup = .singletonMultiThreadedEventLoopGroup,
        _ body: (AgentClient) async throws(CtlError) -> Result
    ) async throws(CtlError) -> Result {
        let address = try AgentAddress.parse(text)
        if case let .unix(path) = address, !FileManager.default.fileExists(atPath: path) {
            throw CtlError.connection("cannot connect to \(text): no socket at \(path)")
        }
        switch transport {
        case .ttrpc:
            return try await withTTRPC(address, text: text, timeout: timeout, eventLoopGroup: eventLoopGroup, body)
        case .grpc:
            return try await withGRPC(address, text: text, timeout: timeout, eventLoopGroup: eventLoopGroup, body)
        }
    }

    private static func withTTRPC<Result: Sendable>(
        _ address: AgentAddress, text: String, timeout: Duration?, eventLoopGroup: any EventLoopGroup,
        _ body: (AgentClient) async throws(CtlError) -> Result
    ) async throws(CtlError) -> Result {
        let connection: TTRPCConnection
        do {
            connection = try await TTRPCConnection.open(fd: try address.dial(), group: eventLoopGroup)
        } catch {
            throw CtlError.connection("cannot connect to \(text): \(error)")
        }
        let result: Swift.Result<Result, CtlError>
        do throws(CtlError) {
            result = .success(try await body(AgentClient(connection: .ttrpc(connection), timeout: timeout)))
        } catch {
            result = .failure(error)
        }
        await connection.close()
        return try result.get()
    }

    private static func withGRPC<Result: Sendable>(
        _ address: AgentAddress, text: String, timeout: Duration?, eventLoopGroup: any EventLoopGroup,
        _ body: (AgentClient) async throws(CtlError) -> Result
    ) async throws(CtlError) -> Result {
        // Dialled like ttrpc: every address kind (abstract unix, hybrid vsock included) is a
        // connected socket by the time HTTP/2 starts on it.
        let transport: GRPCPlaintextClientTransport
        do {
            transport = try await GRPCPlaintextClientTransport.open(
                fd: try address.dial(), group: eventLoopGroup, maxResponseSize: AgentClient.maxMessageBytes)
        } catch {
            throw CtlError.connection("cannot connect to \(text): \(error)")
        }
        do {
            return try await withGRPCClient(transport: transport) { client in
                try await body(AgentClient(connection: .grpc(client), timeout: timeout))
            }
        } catch let error as CtlError {
            throw error
        } catch {
            throw CtlError.connection("connection to \(text) failed: \(error)")
        }
    }
}
