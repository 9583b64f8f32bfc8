import GRPCCore
import Logging
import NIOCore

// The seam between the agent's handlers (grpc-swift-2's GRPCServer and the generated services)
// and the wire codecs beneath them. Each codec (ttrpc, gRPC over HTTP/2) turns one accepted
// connection into RPC streams of the same shape, so every handler is written once and both
// protocols give the same status code and message for the same request. ttrpc calls the
// unary service methods directly (WireUnaryMethods), with GRPCServer's error mapping.

/// A serialized protobuf message as both codecs carry it.
public typealias WireBytes = [UInt8]

/// One RPC accepted by a codec: the server reads the request parts and writes the response parts.
public typealias ServerRPCStream = RPCStream<
    RPCAsyncSequence<RPCRequestPart<WireBytes>, any Error>, RPCWriter<RPCResponsePart<WireBytes>>.Closable
>

/// Runs one accepted RPC to completion (GRPCServer's stream handler).
public typealias RPCStreamHandler = @Sendable (ServerRPCStream, ServerContext) async -> Void

/// Per-protocol limits of one connection.
public struct WireLimits: Sendable {
    /// Largest request message accepted; a larger one is answered RESOURCE_EXHAUSTED and the
    /// connection keeps working (ttrpc: 4 MiB as containerd/ttrpc).
    public var maxMessageSize: Int

    public init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }
}

/// A wire protocol that serves RPCs on one connection once the listener has recognised it by
/// its first bytes. The sniffed bytes are not consumed: the codec's pipeline reads them again.
protocol ConnectionCodec {
    /// What `configure` set up and `serve` drives (e.g. an NIOAsyncChannel or an HTTP/2 multiplexer).
    associatedtype Connection: Sendable

    /// Installs the codec's handlers on `channel`. Runs on the channel's event loop.
    static func configure(channel: any Channel, limits: WireLimits, logger: Logger) -> EventLoopFuture<Connection>

    /// Serves every RPC that arrives on the connection, each in a child task that calls `handler`,
    /// until the connection closes or the task is cancelled. Never throws: a broken connection is
    /// logged (one line saying why) and closed; other connections are untouched.
    static func serve(_ connection: Connection, handler: @escaping RPCStreamHandler, logger: Logger) async
}
