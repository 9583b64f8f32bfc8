import GRPCCore
import Logging
import NIOCore
import NIOHTTP2

/// gRPC over cleartext HTTP/2 (prior knowledge, no TLS) on swift-nio-http2: the codec W1's
/// listener hands every connection that starts with the HTTP/2 preface.
package enum GRPCHTTP2Codec: ConnectionCodec {
    /// One configured HTTP/2 connection: its channel, the multiplexer yielding each new stream,
    /// and the handler that drains it on graceful shutdown.
    struct Connection: Sendable {
        let channel: any Channel
        let multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<GRPCHTTP2Stream>
        let connectionHandler: NIOLoopBound<GRPCHTTP2ConnectionHandler>

        /// Sends GOAWAY (no new streams), lets the streams already accepted finish, then closes
        /// the connection. Safe to call from any thread, more than once.
        func beginGracefulShutdown() {
            let handler = self.connectionHandler
            self.channel.eventLoop.execute {
                handler.value.beginGracefulShutdown()
            }
        }
    }

    /// HTTP/2 settings of the agent's gRPC connections (and, with `role` .client, of
    /// AgentWireClient's). A larger stream window than the HTTP/2 default (64 KiB) lets large
    /// requests (CopyFile, WriteStdin) and answers (ReadStdout) arrive without a round trip per
    /// 64 KiB; the server's stream limit allows many concurrent calls from one runtime; a
    /// client accepts no pushed streams.
    package static func http2Configuration(role: NIOHTTP2Handler.ParserMode = .server) -> NIOHTTP2Handler.Configuration {
        var configuration = NIOHTTP2Handler.Configuration()
        let first = role == .server
            ? HTTP2Setting(parameter: .maxConcurrentStreams, value: 1024) : HTTP2Setting(parameter: .enablePush, value: 0)
        configuration.connection.initialSettings = [
            first,
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16 * 1024),
            HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
        ]
        configuration.stream.targetWindowSize = 1 << 20
        // Rapid-reset protection as grpc-swift's own server sets it: a runtime that cancels calls
        // on its deadlines stays well below 200 resets in 10 s.
        configuration.stream.streamResetFrameRateLimit.maximumCount = 200
        configuration.stream.streamResetFrameRateLimit.windowLength = .seconds(10)
        return configuration
    }

    static func configure(channel: any Channel, limits: WireLimits, logger: Logger) -> EventLoopFuture<Connection> {
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            let connectionHandler = NIOLoopBound(GRPCHTTP2ConnectionHandler(logger: logger), eventLoop: channel.eventLoop)
            // Streams are counted here, not through NIOHTTP2's stream delegate: with the inline
            // multiplexer its streamCreated was never called for inbound streams while
            // streamClosed was, so the count went negative and a drain closed streams still running.
            let multiplexer = try sync.configureAsyncHTTP2Pipeline(
                mode: .server, configuration: http2Configuration()
            ) { streamChannel in
                streamChannel.eventLoop.makeCompletedFuture {
                    let id = try streamChannel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID)
                    connectionHandler.value.streamOpened(id)
                    streamChannel.closeFuture.whenComplete { _ in connectionHandler.value.streamFinished() }
                    return try GRPCHTTP2Stream.configure(streamChannel, limits: limits)
                }
            }
            try sync.addHandler(connectionHandler.value)
            return Connection(channel: channel, multiplexer: multiplexer, connectionHandler: connectionHandler)
        }
    }

    static func serve(_ connection: Connection, handler: @escaping RPCStreamHandler, logger: Logger) async {
        let peers = GRPCHTTP2Peers(channel: connection.channel)
        await withDiscardingTaskGroup { group in
            do {
                for try await stream in connection.multiplexer.inbound {
                    group.addTask {
                        await stream.serve(handler: handler, peers: peers, logger: logger)
                    }
                }
            } catch {
                logger.debug("gRPC connection ended", metadata: ["peer": "\(peers.remote)", "error": "\(error)"])
            }
        }
        // Reached when the connection closed, or when serve's task was cancelled (W1's shutdown).
        connection.channel.close(promise: nil)
    }
}

/// How the peers of one connection appear in ServerContext (unix/vsock sockets have no address).
struct GRPCHTTP2Peers: Sendable {
    let remote: String
    let local: String

    init(channel: any Channel) {
        self.remote = channel.remoteAddress.map { "\($0)" } ?? "unknown"
        self.local = channel.localAddress.map { "\($0)" } ?? "unknown"
    }
}
