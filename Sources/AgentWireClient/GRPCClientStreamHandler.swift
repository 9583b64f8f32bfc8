import AgentWire
import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// The client side of one gRPC call on its HTTP/2 stream: request parts to HEADERS and
/// length-prefixed DATA (half-closing the stream ends the request), response HEADERS, DATA and
/// trailers to response parts, ending with exactly one status. A stream that closes before the
/// status (a reset, a lost connection) ends the call UNAVAILABLE.
final class GRPCClientStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = RPCResponsePart<WireBytes>
    typealias OutboundIn = RPCRequestPart<WireBytes>
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum Inbound {
        case awaitingHeaders
        case receiving(GRPCHTTP2MessageDeframer)
        case done
    }

    private let descriptor: MethodDescriptor
    private let authority: String
    private let timeout: Duration?
    private let maxResponseSize: Int
    private var inbound = Inbound.awaitingHeaders
    private var headersSent = false
    private var requestEnded = false
    // The request headers wait for the first message (or the end of the request), so that a
    // unary call leaves in one flush. Every RPC the agent serves is unary; a bidirectional call
    // that awaited a response before its first message would need its headers flushed alone.
    private var holdFlush = false

    init(descriptor: MethodDescriptor, authority: String, timeout: Duration?, maxResponseSize: Int) {
        self.descriptor = descriptor
        self.authority = authority
        self.timeout = timeout
        self.maxResponseSize = maxResponseSize
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .headers(let headers):
            self.receiveHeaders(context: context, headers.headers, endStream: headers.endStream)
        case .data(let data):
            guard case .byteBuffer(let buffer) = data.data else { return }
            self.receiveData(context: context, buffer, endStream: data.endStream)
        default:
            // RST_STREAM closes the stream channel: channelInactive ends the call.
            break
        }
    }

    private func receiveHeaders(context: ChannelHandlerContext, _ headers: HPACKHeaders, endStream: Bool) {
        switch self.inbound {
        case .awaitingHeaders:
            switch GRPCClientHeaders.response(headers, endStream: endStream) {
            case .headers(let metadata):
                self.inbound = .receiving(GRPCHTTP2MessageDeframer(maxMessageSize: self.maxResponseSize, direction: "response"))
                context.fireChannelRead(self.wrapInboundOut(.metadata(metadata)))
            case .status(let status, let metadata):
                self.finish(context: context, status, metadata, reset: !endStream)
            }
        case .receiving(let deframer):
            guard endStream else {
                self.finish(context: context, Status(code: .internalError, message: "response headers mid-stream"), [:], reset: true)
                return
            }
            if deframer.bufferedBytes > 0 {
                self.finish(context: context, Status(
                    code: .internalError, message: "response ended inside a message (\(deframer.bufferedBytes) bytes left over)"),
                    [:], reset: false)
                return
            }
            let (status, metadata) = GRPCClientHeaders.trailers(headers)
            self.finish(context: context, status, metadata, reset: false)
        case .done:
            break
        }
    }

    private func receiveData(context: ChannelHandlerContext, _ buffer: ByteBuffer, endStream: Bool) {
        guard case .receiving(var deframer) = self.inbound else { return }
        self.inbound = .done
        deframer.append(buffer)
        if let error = deframer.drain({ context.fireChannelRead(self.wrapInboundOut(.message($0))) }) {
            self.finish(context: context, Status(code: Status.Code(error.code), message: error.message), [:], reset: true)
            return
        }
        self.inbound = .receiving(deframer)
        if endStream {
            // A response must end with trailers, not with DATA.
            self.finish(context: context, Status(code: .internalError, message: "response ended without trailers"), [:], reset: false)
        }
    }

    /// The call's one status; `reset` ends the stream early (the server is still sending).
    private func finish(context: ChannelHandlerContext, _ status: Status, _ metadata: Metadata, reset: Bool) {
        self.inbound = .done
        context.fireChannelRead(self.wrapInboundOut(.status(status, metadata)))
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        if reset { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch self.inbound {
        case .awaitingHeaders, .receiving:
            self.inbound = .done
            context.fireChannelRead(self.wrapInboundOut(.status(
                Status(code: .unavailable, message: "the stream closed before the agent's status (reset or connection lost)"), [:])))
        case .done:
            break
        }
        context.fireChannelInactive()
    }

    // MARK: outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !self.requestEnded else {
            promise?.fail(RPCError(code: .internalError, message: "request part after the end of the request"))
            return
        }
        switch self.unwrapOutboundIn(data) {
        case .metadata(let metadata):
            guard !self.headersSent else {
                promise?.fail(RPCError(code: .internalError, message: "request metadata sent twice"))
                return
            }
            self.sendHeaders(context: context, metadata, promise: promise)
            self.holdFlush = true
        case .message(let message):
            if !self.headersSent { self.sendHeaders(context: context, [:], promise: nil) }
            self.holdFlush = false
            guard let length = UInt32(exactly: message.count) else {
                promise?.fail(RPCError(code: .resourceExhausted, message: "request message of \(message.count) bytes cannot be framed"))
                return
            }
            var buffer = context.channel.allocator.buffer(capacity: 5 + message.count)
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(length)
            buffer.writeBytes(message)
            context.write(self.wrapOutboundOut(.data(.init(data: .byteBuffer(buffer)))), promise: promise)
        }
    }

    private func sendHeaders(
        context: ChannelHandlerContext, _ metadata: Metadata, endStream: Bool = false, promise: EventLoopPromise<Void>?
    ) {
        self.headersSent = true
        let headers = GRPCClientHeaders.request(self.descriptor, authority: self.authority, timeout: self.timeout, metadata: metadata)
        context.write(self.wrapOutboundOut(.headers(.init(headers: headers, endStream: endStream))), promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        if self.holdFlush { return }
        context.flush()
    }

    /// Half-closing the stream (the request writer finished) sends END_STREAM and keeps the
    /// response side open; NIOHTTP2's stream channel would close both ways.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .output:
            self.endRequest(context: context)
            promise?.succeed()
        case .input:
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            promise?.succeed()
        case .all:
            context.close(mode: mode, promise: promise)
        }
    }

    private func endRequest(context: ChannelHandlerContext) {
        guard !self.requestEnded else { return }
        self.requestEnded = true
        self.holdFlush = false
        if !self.headersSent {
            // A request without metadata or messages: its headers end it.
            self.sendHeaders(context: context, [:], endStream: true, promise: nil)
        } else {
            let empty = context.channel.allocator.buffer(capacity: 0)
            context.write(self.wrapOutboundOut(.data(.init(data: .byteBuffer(empty), endStream: true))), promise: nil)
        }
        context.flush()
    }
}
