import AgentConfig
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import SwiftProtobuf

/// One gRPC connection to an agent, and the one generic call every RPC goes through.
struct AgentClient: Sendable {
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    /// Per-RPC deadline; nil waits as long as the RPC takes (GetOOMEvent is a long poll).
    let timeout: Duration?

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
        var options = CallOptions.defaults
        options.timeout = timeout
        // Fail fast when nothing listens instead of retrying until the (possibly absent) deadline.
        options.waitForReady = false
        // Same bound as the agent's server (OCI specs, CopyFile chunks, metrics).
        options.maxRequestMessageBytes = Self.maxMessageBytes
        options.maxResponseMessageBytes = Self.maxMessageBytes
        let response: M.Output
        do {
            response = try await client.unary(
                request: ClientRequest(message: message),
                descriptor: M.descriptor,
                serializer: ProtobufSerializer<M.Input>(),
                deserializer: ProtobufDeserializer<M.Output>(),
                options: options
            ) { try $0.message }
        } catch let error as RPCError {
            throw CtlError.rpc(name: name, code: error.code, message: Self.message(of: error))
        } catch {
            throw CtlError.rpc(name: name, code: .unknown, message: "\(error)")
        }
        return try Self.json(response, name: name)
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
