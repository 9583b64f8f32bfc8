import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// The gRPC side of one HTTP/2 stream: request HEADERS and DATA to request parts (metadata, then
/// messages, then the end of input), response parts to HEADERS, length-prefixed DATA and
/// trailers. A reset or a lost connection before the status cancels the RPC.
final class GRPCHTTP2StreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = RPCRequestPart<WireBytes>
    typealias OutboundIn = RPCResponsePart<WireBytes>
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum Inbound {
        case awaitingHeaders
        case receiving(GRPCHTTP2MessageDeframer)
        case closed
    }

    private enum Outbound {
        case idle
        case headersSent
        case closed
    }

    private var inbound = Inbound.awaitingHeaders
    private var outbound = Outbound.idle
    private let maxMessageSize: Int
    private let descriptor: EventLoopPromise<MethodDescriptor>
    private var cancellation: ServerContext.RPCCancellationHandle?
    private var cancelledBeforeHandle = false
    // Response headers are held back until a message or the status follows, so a unary reply
    // leaves in one flush.
    private var headersFlushPending = false
    // The client sent END_STREAM (whether or not its request was still being read).
    private var clientEnded = false

    init(maxMessageSize: Int, descriptor: EventLoopPromise<MethodDescriptor>) {
        self.maxMessageSize = maxMessageSize
        self.descriptor = descriptor
    }

    /// Called on the event loop once serve created the RPC's cancellation handle.
    func setCancellationHandle(_ handle: ServerContext.RPCCancellationHandle) {
        if self.cancelledBeforeHandle {
            handle.cancel()
        } else {
            self.cancellation = handle
        }
    }

    private func cancelRPC() {
        if let handle = self.cancellation {
            self.cancellation = nil
            handle.cancel()
        } else {
            self.cancelledBeforeHandle = true
        }
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .headers(let headers):
            if headers.endStream { self.clientEnded = true }
            self.receiveHeaders(context: context, headers.headers, endStream: headers.endStream)
        case .data(let data):
            if data.endStream { self.clientEnded = true }
            guard case .byteBuffer(let buffer) = data.data else { return }
            self.receiveData(context: context, buffer, endStream: data.endStream)
        default:
            // RST_STREAM closes the stream channel (channelInactive cancels the RPC); other frame
            // types are the connection's.
            break
        }
    }

    private func receiveHeaders(context: ChannelHandlerContext, _ headers: HPACKHeaders, endStream: Bool) {
        switch self.inbound {
        case .awaitingHeaders:
            switch GRPCHTTP2Headers.request(headers) {
            case .success(let (method, metadata)):
                self.descriptor.succeed(method)
                context.fireChannelRead(self.wrapInboundOut(.metadata(metadata)))
                if endStream {
                    self.endInbound(context: context)
                } else {
                    self.inbound = .receiving(GRPCHTTP2MessageDeframer(maxMessageSize: self.maxMessageSize))
                }
            case .failure(let rejection):
                self.inbound = .closed
                self.descriptor.fail(RPCError(code: rejection.code, message: rejection.message))
                self.sendStatus(
                    context: context, code: Status.Code(rejection.code), message: rejection.message, metadata: [:],
                    httpStatus: rejection.httpStatus, promise: nil)
                context.flush()
            }
        case .receiving(let deframer):
            // Trailers from a client: allowed only as the end of the request.
            if endStream {
                self.inbound = .receiving(deframer)
                self.finishRequest(context: context, deframer)
            } else {
                self.failRequest(context: context, code: .internalError, message: "unexpected request headers mid-stream")
            }
        case .closed:
            break
        }
    }

    private func receiveData(context: ChannelHandlerContext, _ buffer: ByteBuffer, endStream: Bool) {
        guard case .receiving(var deframer) = self.inbound else { return }
        // Released while messages are read so that a re-entrant event sees a consistent state.
        self.inbound = .closed
        deframer.append(buffer)
        if let error = deframer.drain({ context.fireChannelRead(self.wrapInboundOut(.message($0))) }) {
            self.failRequest(context: context, code: error.code, message: error.message)
            return
        }
        self.inbound = .receiving(deframer)
        if endStream {
            self.finishRequest(context: context, deframer)
        }
    }

    private func finishRequest(context: ChannelHandlerContext, _ deframer: GRPCHTTP2MessageDeframer) {
        if deframer.bufferedBytes > 0 {
            self.failRequest(
                context: context, code: .internalError,
                message: "request ended inside a message (\(deframer.bufferedBytes) bytes left over)")
        } else {
            self.endInbound(context: context)
        }
    }

    private func endInbound(context: ChannelHandlerContext) {
        self.inbound = .closed
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    /// A request that cannot be read any further: the client gets the status now, the handler is
    /// cancelled and its request sequence ends with the same error.
    private func failRequest(context: ChannelHandlerContext, code: RPCError.Code, message: String) {
        self.inbound = .closed
        self.sendStatus(
            context: context, code: Status.Code(code), message: message, metadata: [:], httpStatus: "200", promise: nil)
        context.flush()
        self.cancelRPC()
        context.fireErrorCaught(RPCError(code: code, message: message))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.descriptor.fail(RPCError(code: .unavailable, message: "stream closed before its request headers"))
        if case .closed = self.outbound {
        } else {
            // Reset by the client or connection lost before the status: the handler stops.
            self.outbound = .closed
            self.cancelRPC()
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.descriptor.fail(RPCError(code: .unavailable, message: "stream closed before its request headers"))
    }

    // MARK: outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .metadata(let metadata):
            guard case .idle = self.outbound else {
                promise?.fail(RPCError(code: .internalError, message: "response metadata sent twice or after the status"))
                return
            }
            self.outbound = .headersSent
            self.headersFlushPending = true
            let headers = GRPCHTTP2Headers.responseHeaders(metadata)
            context.write(self.wrapOutboundOut(.headers(.init(headers: headers))), promise: promise)
        case .message(let message):
            switch self.outbound {
            case .idle:
                self.outbound = .headersSent
                let headers = GRPCHTTP2Headers.responseHeaders([:])
                context.write(self.wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
            case .headersSent:
                break
            case .closed:
                promise?.fail(RPCError(code: .internalError, message: "response message after the status"))
                return
            }
            self.headersFlushPending = false
            var buffer = context.channel.allocator.buffer(capacity: 5 + message.count)
            buffer.writeInteger(UInt8(0))
            // The limit is enforced on requests; a response past 4 GiB cannot be framed at all.
            guard let length = UInt32(exactly: message.count) else {
                promise?.fail(RPCError(code: .resourceExhausted, message: "response message of \(message.count) bytes cannot be framed"))
                return
            }
            buffer.writeInteger(length)
            buffer.writeBytes(message)
            context.write(self.wrapOutboundOut(.data(.init(data: .byteBuffer(buffer)))), promise: promise)
        case .status(let status, let metadata):
            guard !self.isOutboundClosed else {
                // The stream already ended (an error status of ours, a reset): nothing more leaves.
                promise?.fail(RPCError(code: .cancelled, message: "the RPC already ended"))
                return
            }
            self.headersFlushPending = false
            self.sendStatus(
                context: context, code: status.code, message: status.message, metadata: metadata, httpStatus: "200",
                promise: promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        if self.headersFlushPending { return }
        context.flush()
    }

    private var isOutboundClosed: Bool {
        if case .closed = self.outbound { return true }
        return false
    }

    /// Ends the response: trailers-only when nothing was sent yet, trailers otherwise. A client
    /// still sending is then told, as the gRPC spec says, with RST_STREAM NO_ERROR.
    private func sendStatus(
        context: ChannelHandlerContext, code: Status.Code, message: String, metadata: Metadata, httpStatus: String,
        promise: EventLoopPromise<Void>?
    ) {
        let trailersOnly: Bool
        switch self.outbound {
        case .idle: trailersOnly = true
        case .headersSent: trailersOnly = false
        case .closed:
            promise?.fail(RPCError(code: .cancelled, message: "the RPC already ended"))
            return
        }
        self.outbound = .closed
        let trailers = GRPCHTTP2Headers.trailers(
            code: code, message: message, metadata: metadata, trailersOnly: trailersOnly, httpStatus: httpStatus)
        context.write(self.wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))), promise: promise)
        if !self.clientEnded {
            context.write(self.wrapOutboundOut(.rstStream(.noError)), promise: nil)
        }
    }
}
