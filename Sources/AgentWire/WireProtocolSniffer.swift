import Logging
import NIOCore

/// A connection recognised by its first bytes and configured for its protocol.
enum SniffedConnection: Sendable {
    case ttrpc(TTRPCCodec.Connection)
    case grpc(GRPCHTTP2Codec.Connection)

    var channel: any Channel {
        switch self {
        case let .ttrpc(connection): return connection.channel
        case let .grpc(connection): return connection.channel
        }
    }

    func beginGracefulShutdown() {
        switch self {
        case let .ttrpc(connection): connection.beginGracefulShutdown()
        case let .grpc(connection): connection.beginGracefulShutdown()
        }
    }
}

/// The connection ended or was refused before its protocol was known (already logged if worth it).
struct ConnectionNotSniffed: Error {}

/// First handler of every accepted connection: its first byte picks the codec. An HTTP/2
/// client opens with the preface "PRI * HTTP/2.0..."; a ttrpc client with a frame header whose
/// first byte is 0 (every frame is under 16 MiB). Anything else is closed with one log line.
/// The bytes read so far are handed to the codec's handlers, then the sniffer leaves.
final class WireProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    struct Limits: Sendable {
        var ttrpc: WireLimits
        var grpc: WireLimits
    }

    private let promise: EventLoopPromise<SniffedConnection>
    private let limits: Limits
    /// The direct methods a ttrpc connection may answer at once (WireUnaryMethod.immediate).
    private let unary: WireUnaryMethods
    private let logger: Logger
    private var buffered: [NIOAny] = []
    private var decided = false

    init(promise: EventLoopPromise<SniffedConnection>, limits: Limits, unary: WireUnaryMethods, logger: Logger) {
        self.promise = promise
        self.limits = limits
        self.unary = unary
        self.logger = logger
    }

    /// Installs a sniffer on `channel`; the future tells which codec took the connection.
    static func install(
        on channel: any Channel, limits: Limits, unary: WireUnaryMethods, logger: Logger
    ) -> EventLoopFuture<SniffedConnection> {
        let promise = channel.eventLoop.makePromise(of: SniffedConnection.self)
        do {
            let sniffer = WireProtocolSniffer(promise: promise, limits: limits, unary: unary, logger: logger)
            try channel.pipeline.syncOperations.addHandler(sniffer)
        } catch {
            promise.fail(error)
        }
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffered.append(data)
        guard !decided else { return }
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        decided = true
        switch first {
        case 0:
            adopt(context, TTRPCCodec.configure(channel: context.channel, limits: limits.ttrpc, unary: unary, logger: logger).map {
                SniffedConnection.ttrpc($0)
            })
        case UInt8(ascii: "P"):
            adopt(context, GRPCHTTP2Codec.configure(channel: context.channel, limits: limits.grpc, logger: logger).map {
                SniffedConnection.grpc($0)
            })
        default:
            let head = buffer.getBytes(at: buffer.readerIndex, length: min(8, buffer.readableBytes)) ?? []
            logger.warning(
                "connection closed: neither ttrpc nor HTTP/2",
                metadata: ["peer": "\(peer(context))", "first_bytes": "\(head.map { hex($0) }.joined())"])
            refuse(context)
        }
    }

    private func adopt(_ context: ChannelHandlerContext, _ configured: EventLoopFuture<SniffedConnection>) {
        configured.assumeIsolated().whenComplete { result in
            switch result {
            case let .success(connection):
                let reads = self.buffered
                self.buffered = []
                for read in reads { context.fireChannelRead(read) }
                context.fireChannelReadComplete()
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                self.promise.succeed(connection)
            case let .failure(error):
                self.logger.warning(
                    "connection closed: its codec could not be set up", metadata: ["peer": "\(self.peer(context))", "error": "\(error)"])
                self.refuse(context)
            }
        }
    }

    private func refuse(_ context: ChannelHandlerContext) {
        buffered = []
        promise.fail(ConnectionNotSniffed())
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A connection that closes before sending anything (a readiness probe) is not worth a line.
        if !decided {
            decided = true
            promise.fail(ConnectionNotSniffed())
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !decided {
            decided = true
            promise.fail(ConnectionNotSniffed())
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    private func peer(_ context: ChannelHandlerContext) -> String {
        context.channel.remoteAddress.map { "\($0)" } ?? "local"
    }

    private func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
    }
}
