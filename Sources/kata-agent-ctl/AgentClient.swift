import AgentConfig
import AgentWire
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import AgentWireClient
import GRPCProtobuf
import SwiftProtobuf
import TTRPCWire

/// The wire protocol kata-agent-ctl speaks to the agent.
enum WireTransport: String, CaseIterable, Sendable {
    /// containerd/ttrpc, as every Kata runtime since 2.0 (and upstream's agent-ctl).
    case ttrpc
    /// gRPC over HTTP/2, as the Kata 1.x runtimes and any gRPC tool.
    case grpc
}

/// One connection to an agent, over ttrpc or gRPC, and the one generic call every RPC goes through.
struct AgentClient: Sendable {
    enum Connection: Sendable {
        case grpc(GRPCClient<GRPCPlaintextClientTransport>)
        case ttrpc(TTRPCConnection)
    }

    let connection: Connection
    /// Per-RPC deadline; nil waits as long as the RPC takes (GetOOMEvent is a long poll).
    let timeout: Duration?

    /// The gRPC bound: the agent's server takes OCI specs, CopyFile chunks and metrics this big.
    /// (ttrpc's own limit is 4 MiB each way, as containerd/ttrpc.)
    static let maxMessageBytes = 16 << 20

    /// Decodes the prepared request, calls it and returns the response as one JSON line.
    func call(_ spec: RequestSpec) async throws(CtlError) -> String {
        try await call(spec.method, request: spec.request, name: spec.method.descriptor.method)
    }

    private func call<M: UnaryMethod>(_: M.Type, request: Data, name: String) async throws(CtlError) -> String {
        let message: M.Input
        do {
            message = try M.Input(serializedBytes: request)
        } catch {
            throw CtlError.usage("cannot re-encode the request for \(name): \(error)")
        }
        return try Self.json(try await unary(M.self, message), name: name)
    }

    /// One unary RPC on whichever protocol this connection speaks.
    func unary<M: UnaryMethod>(_: M.Type, _ message: M.Input) async throws(CtlError) -> M.Output {
        let name = M.descriptor.method
        switch connection {
        case let .grpc(client):
            do {
                return try await client.unary(
                    request: ClientRequest(message: message),
                    descriptor: M.descriptor,
                    serializer: ProtobufSerializer<M.Input>(),
                    deserializer: ProtobufDeserializer<M.Output>(),
                    options: grpcOptions
                ) { try $0.message }
            } catch let error as RPCError {
                throw CtlError.rpc(name: name, code: error.code, message: Self.message(of: error))
            } catch {
                throw CtlError.rpc(name: name, code: .unknown, message: "\(error)")
            }
        case let .ttrpc(connection):
            let payload: [UInt8]
            do {
                payload = try message.serializedBytes()
            } catch {
                throw CtlError.usage("cannot encode the request for \(name): \(error)")
            }
            let response: TTRPCResponse
            do {
                response = try await connection.call(
                    service: M.descriptor.service.fullyQualifiedService, method: name, payload: payload, timeout: timeout)
            } catch let error as TTRPCCallError {
                throw CtlError.rpc(name: name, code: Self.code(error.code), message: error.message)
            } catch {
                throw CtlError.rpc(name: name, code: .unavailable, message: "\(error)")
            }
            guard response.status.code == 0 else {
                throw CtlError.rpc(name: name, code: Self.code(response.status.code), message: response.status.message)
            }
            do {
                return try M.Output(serializedBytes: response.payload)
            } catch {
                throw CtlError.rpc(name: name, code: .internalError, message: "cannot decode the agent's response: \(error)")
            }
        }
    }

    private var grpcOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        // Fail fast when nothing listens instead of retrying until the (possibly absent) deadline.
        options.waitForReady = false
        options.maxRequestMessageBytes = Self.maxMessageBytes
        options.maxResponseMessageBytes = Self.maxMessageBytes
        return options
    }

    /// A ttrpc status code (google.rpc.Status.code) as GRPCCore's; codes past UNAUTHENTICATED are UNKNOWN.
    static func code(_ raw: Int32) -> RPCError.Code {
        Status.Code(rawValue: Int(raw)).flatMap { RPCError.Code($0) } ?? .unknown
    }

    /// The response in protobuf JSON with upstream's proto field names, on one line.
    static func json(_ message: some SwiftProtobuf.Message, name: String) throws(CtlError) -> String {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        do {
            return try message.jsonString(options: options)
        } catch {
            throw CtlError.rpc(name: name, code: .internalError, message: "cannot print the response as JSON: \(error)")
        }
    }

    /// The status message plus the transport's cause, which is where "connection refused" hides.
    private static func message(of error: RPCError) -> String {
        guard let cause = error.cause else { return error.message }
        return "\(error.message) (\(cause))"
    }
}
