import AgentWire
import GRPCCore
import NIOCore
import NIOHTTP2
import NIOPosix

/// GRPCCore's client transport over cleartext HTTP/2 on one socket the caller already connected
/// (unix path or abstract, vsock, hybrid vsock after its CONNECT line): what kata-agent-ctl and
/// the tests use to speak gRPC to the agent.
///
/// Written here rather than taken from grpc-swift-nio-transport because that package's only
/// public client transports come with swift-nio-ssl, swift-crypto and swift-certificates (two
/// BoringSSL copies): about 800 C/C++ files that every fresh build, CI's included, compiled for a
/// client that never speaks TLS. One connection, no name resolution, no retries: the agent's
/// calls are unary and the runtime is its only peer.
public final class GRPCPlaintextClientTransport: ClientTransport {
    public typealias Bytes = WireBytes

    let channel: any Channel
    let multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<Void>
    let authority: String
    let maxResponseSize: Int
    let peers: (remote: String, local: String)

    public var retryThrottle: RetryThrottle? { nil }

    private init(channel: any Channel, multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<Void>, authority: String, maxResponseSize: Int) {
        self.channel = channel
        self.multiplexer = multiplexer
        self.authority = authority
        self.maxResponseSize = maxResponseSize
        self.peers = (channel.remoteAddress.map { "\($0)" } ?? authority, channel.localAddress.map { "\($0)" } ?? "unknown")
    }

    /// Takes ownership of the connected socket `fd` and speaks HTTP/2 on it (prior knowledge).
    /// `authority` is the :authority of every call; responses may be `maxResponseSize` bytes.
    public static func open(
        fd: Int32, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, authority: String = "localhost",
        maxResponseSize: Int = 16 << 20
    ) async throws -> GRPCPlaintextClientTransport {
        let (channel, multiplexer) = try await ClientBootstrap(group: group).withConnectedSocket(fd) { channel in
            Self.configure(channel)
        }
        return GRPCPlaintextClientTransport(
            channel: channel, multiplexer: multiplexer, authority: authority, maxResponseSize: maxResponseSize)
    }

    /// Connects to the unix socket at `path` (failing at once if nothing listens there).
    public static func open(
        unixPath path: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        authority: String = "localhost", maxResponseSize: Int = 16 << 20
    ) async throws -> GRPCPlaintextClientTransport {
        let (channel, multiplexer) = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: path) { channel in
            Self.configure(channel)
        }
        return GRPCPlaintextClientTransport(
            channel: channel, multiplexer: multiplexer, authority: authority, maxResponseSize: maxResponseSize)
    }

    private static func configure(
        _ channel: any Channel
    ) -> EventLoopFuture<(any Channel, NIOHTTP2Handler.AsyncStreamMultiplexer<Void>)> {
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            let multiplexer = try sync.configureAsyncHTTP2Pipeline(
                mode: .client, configuration: GRPCHTTP2Codec.http2Configuration(role: .client)
            ) { stream in
                // The agent never opens streams (no server push): refuse any.
                stream.close()
            }
            try sync.addHandler(ConnectionErrorHandler())
            return (channel, multiplexer)
        }
    }

    /// The connection is up from `open`; this waits until it closes (GRPCClient runs it for the
    /// client's life and stops once `beginGracefulShutdown` closed it). Cancelling it closes the
    /// connection: withGRPCClient cancels it, rather than shutting down, when its body throws.
    public func connect() async throws {
        let channel = self.channel
        try await withTaskCancellationHandler {
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Closes the connection (calls still running end UNAVAILABLE).
    public func beginGracefulShutdown() {
        self.channel.close(promise: nil)
    }

    public func config(forMethod descriptor: MethodDescriptor) -> MethodConfig? { nil }

    public func withStream<T: Sendable>(
        descriptor: MethodDescriptor, options: CallOptions,
        _ closure: (RPCStream<Inbound, Outbound>, ClientContext) async throws -> T
    ) async throws -> T {
        let authority = self.authority
        let maxResponseSize = options.maxResponseMessageBytes ?? self.maxResponseSize
        let timeout = options.timeout
        let stream: NIOAsyncChannel<RPCResponsePart<WireBytes>, RPCRequestPart<WireBytes>>
        do {
            stream = try await self.multiplexer.openStream { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GRPCClientStreamHandler(
                        descriptor: descriptor, authority: authority, timeout: timeout, maxResponseSize: maxResponseSize))
                    return try NIOAsyncChannel<RPCResponsePart<WireBytes>, RPCRequestPart<WireBytes>>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        } catch {
            throw RPCError(code: .unavailable, message: "cannot open a stream to the agent: \(error)")
        }
        let context = ClientContext(descriptor: descriptor, remotePeer: self.peers.remote, localPeer: self.peers.local)
        return try await stream.executeThenClose { inbound, outbound in
            let rpc = RPCStream(
                descriptor: descriptor,
                inbound: RPCAsyncSequence(wrapping: inbound),
                outbound: RPCWriter.Closable(wrapping: GRPCHTTP2PartWriter(writer: outbound)))
            return try await closure(rpc, context)
        }
    }
}

/// Closes the connection on a connection error NIOHTTP2 raised (it sent GOAWAY and leaves the
/// close to the pipeline); a stream error ends only its stream.
private final class ConnectionErrorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOHTTP2Errors.StreamError { return }
        context.close(promise: nil)
    }
}
