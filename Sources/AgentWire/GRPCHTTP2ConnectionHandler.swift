import Logging
import NIOCore
import NIOHTTP2

/// Connection-level part of the gRPC codec: counts the open streams and drives graceful
/// shutdown (GOAWAY naming the last stream accepted, close once those streams finished).
/// NIOHTTP2 answers PING and SETTINGS itself.
final class GRPCHTTP2ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var openStreams = 0
    private var lastStreamID = HTTP2StreamID.rootStream
    private var draining = false

    init(logger: Logger) {
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Connection frames (SETTINGS, PING, GOAWAY) were handled by NIOHTTP2; nothing else wants them.
    }

    /// An error NIOHTTP2 raised on the connection. For a connection error it has already sent
    /// GOAWAY, after which RFC 9113 section 5.4.1 says the connection must close; NIOHTTP2 leaves
    /// that to us, and a client whose calls the GOAWAY covers would otherwise wait for them
    /// forever (found by the RPC fuzzer: a client cancelling many calls trips NIOHTTP2's
    /// rapid-reset limit). Stream errors reach this pipeline too and end only their stream.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case is NIOHTTP2Errors.StreamError:
            return
        case is NIOHTTP2Errors.NoSuchStream where self.draining:
            // A client opening a stream as our GOAWAY crosses it; the drain ends the connection.
            return
        default:
            self.logger.info("gRPC connection error; closing the connection", metadata: [
                "error": "\(error)", "open_streams": "\(self.openStreams)",
            ])
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            self.beginGracefulShutdown()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// A stream channel was set up (on the connection's event loop).
    func streamOpened(_ id: HTTP2StreamID?) {
        self.openStreams += 1
        if let id, id > self.lastStreamID {
            self.lastStreamID = id
        }
    }

    /// A stream channel closed: its answer is written or the stream was reset.
    func streamFinished() {
        self.openStreams -= 1
        if self.draining, self.openStreams <= 0 {
            self.context?.close(promise: nil)
        }
    }

    /// GOAWAY with NO_ERROR and the last stream accepted: the client opens no more streams on
    /// this connection, the open ones run to their end, then the connection closes.
    func beginGracefulShutdown() {
        guard !self.draining, let context = self.context else { return }
        self.draining = true
        self.logger.debug("gRPC connection draining", metadata: ["open_streams": "\(self.openStreams)"])
        let goAway = HTTP2Frame(
            streamID: .rootStream, payload: .goAway(lastStreamID: self.lastStreamID, errorCode: .noError, opaqueData: nil))
        context.writeAndFlush(self.wrapOutboundOut(goAway), promise: nil)
        if self.openStreams <= 0 {
            context.close(promise: nil)
        }
    }
}
