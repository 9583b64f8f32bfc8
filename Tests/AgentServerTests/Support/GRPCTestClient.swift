import AgentWireClient
import GRPCCore

/// gRPC clients on a unix socket for tests. A server binds its socket asynchronously, so the
/// connection is retried until the socket accepts, within a deadline.
enum GRPCTestClient {
    static func connect(unixPath: String, deadline: Duration = .seconds(30)) async throws -> GRPCPlaintextClientTransport {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: deadline)
        while true {
            do {
                return try await GRPCPlaintextClientTransport.open(unixPath: unixPath)
            } catch {
                if clock.now >= end { throw error }
                // Nothing to block on until the server binds its socket; poll at a short interval.
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Runs `body` with a client on `unixPath`, then shuts the client down.
    static func with<Result: Sendable>(
        unixPath: String, _ body: (GRPCClient<GRPCPlaintextClientTransport>) async throws -> Result
    ) async throws -> Result {
        let transport = try await connect(unixPath: unixPath)
        return try await withGRPCClient(transport: transport) { client in try await body(client) }
    }
}
