#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import GRPCCore
import Logging
import NIOCore
import TTRPCWire

/// One accepted ttrpc request, handed from the connection's handler to its serve loop.
struct TTRPCCall: Sendable {
    let streamID: UInt32
    let request: TTRPCRequest
}

/// The connection side of the ttrpc server, on the channel's event loop: applies
/// containerd/ttrpc's rules to each frame, keeps the calls in flight, enforces deadlines and
/// writes every response frame (the one writer of the connection, so frames never interleave).
///
/// As the Go server: many calls in flight, each answered when it finishes; stream ids from the
/// client must be odd and increase; an even id is answered INVALID_ARGUMENT on that id; a frame
/// type the server does not know is skipped; an oversized message is discarded and answered
/// RESOURCE_EXHAUSTED. Go's server dereferences nil on a data frame for a unary method; here a
/// data frame for a stream that is not in flight is answered as Go answers it before that
/// ("StreamID is no longer active"), and one for a call in flight is dropped (the protocol has
/// no second answer for a unary call, and every agent RPC is unary).
final class TTRPCServerHandler: ChannelInboundHandler {
    typealias InboundIn = TTRPCInboundFrame
    typealias OutboundOut = ByteBuffer

    /// A call in flight.
    private struct Active {
        var deadline: Scheduled<Void>?
        var cancellation: ServerContext.RPCCancellationHandle?
        /// The deadline passed (or the connection closed) before the handle was attached.
        var cancelled = false
    }

    private let logger: Logger
    private let maxMessageSize: Int
    private let calls: TTRPCCallQueue
    private var context: ChannelHandlerContext?
    private var active: [UInt32: Active] = [:]
    private var lastStreamID: UInt32 = 0
    private var draining = false
    private var closing = false
    /// The methods that may answer at once (WireUnaryMethod.immediate).
    private let unary: WireUnaryMethods

    init(logger: Logger, maxMessageSize: Int, calls: TTRPCCallQueue, unary: WireUnaryMethods) {
        self.logger = logger
        self.maxMessageSize = maxMessageSize
        self.calls = calls
        self.unary = unary
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .oversized(header):
            writeStatus(
                header.streamID,
                TTRPCStatus(
                    code: Int32(Status.Code.resourceExhausted.rawValue),
                    message: "message length \(header.length) exceed maximum message size of \(maxMessageSize)"))
        case let .frame(header, payload):
            handleFrame(header, payload)
        }
    }

    private func handleFrame(_ header: TTRPCFrameHeader, _ payload: ByteBuffer) {
        let id = header.streamID
        guard id % 2 == 1 else {
            writeStatus(id, .invalidArgument("StreamID must be odd for client initiated streams"))
            return
        }
        switch header.type {
        case TTRPC.requestType:
            guard id > lastStreamID else {
                writeStatus(id, .invalidArgument("StreamID cannot be re-used and must increment"))
                return
            }
            lastStreamID = id
            let decoded = payload.withUnsafeReadableBytes { raw in
                Result { () throws(ProtoDecodingError) in try TTRPCRequest(decoding: raw) }
            }
            switch decoded {
            case let .failure(error):
                writeStatus(id, .invalidArgument("unmarshal request error: \(error)"))
            case let .success(request):
                start(TTRPCCall(streamID: id, request: request))
            }
        case TTRPC.dataType:
            if active[id] == nil {
                writeStatus(id, .invalidArgument("StreamID is no longer active"))
            }
        default:
            // Unknown (or server-only) frame types are ignored for future compatibility, as Go does.
            break
        }
    }

    private func start(_ call: TTRPCCall) {
        guard let context else { return }
        var entry = Active()
        let timeout = call.request.timeoutNano
        if timeout < 0 {
            // Already past its deadline (Go: a context whose deadline has passed).
            writeStatus(call.streamID, .deadlineExceeded)
            return
        }
        if let immediate = unary[service: call.request.service, method: call.request.method]?.immediate,
            answerNow(call, immediate)
        {
            return
        }
        if timeout > 0 {
            // Clamped so the deadline arithmetic cannot overflow; a year is "no deadline" here.
            let amount = TimeAmount.nanoseconds(min(timeout, 365 * 24 * 3600 * 1_000_000_000))
            let id = call.streamID
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            entry.deadline = context.eventLoop.scheduleTask(in: amount) { loopBound.value.deadlinePassed(id) }
        }
        active[call.streamID] = entry
        calls.push(call)
    }

    /// Runs `immediate` for `call` here on the loop; true when it answered (or failed), false
    /// when the call must wait and goes to the serve loop instead.
    private func answerNow(_ call: TTRPCCall, _ immediate: @Sendable (WireBytes) throws -> WirePayload?) -> Bool {
        let id = call.streamID
        let delivery = WireDelivery()
        let traceparent = WireTraceContext.traceparent(in: call.request.metadata)
        // In flight while it runs, as on the ordinary path: a graceful shutdown it starts closes
        // the connection after its answer, not before.
        active[id] = Active()
        let outcome = Result { () throws -> WirePayload? in
            try WireDelivery.$current.withValue(delivery) {
                try WireTraceContext.$traceparent.withValue(traceparent) { try immediate(call.request.payload) }
            }
        }
        switch outcome {
        case .success(nil):
            active[id] = nil
            // Nothing was lent to an answer that will not be written here.
            delivery.settleIfUnanswered()
            return false
        case let .success(payload?):
            respond(id, payload: payload, delivery: delivery)
        case let .failure(error):
            let mapped = WireUnaryMethod.status(of: error)
            let status = TTRPCStatus(code: Int32(mapped.code.rawValue), message: mapped.message)
            respond(id, status: status, payload: [], delivery: delivery)
        }
        return true
    }

    /// Answers DEADLINE_EXCEEDED at once and cancels the handler (its answer is then dropped).
    private func deadlinePassed(_ id: UInt32) {
        guard var entry = active.removeValue(forKey: id) else { return }
        entry.cancelled = true
        entry.cancellation?.cancel()
        writeStatus(id, .deadlineExceeded)
        closeIfDrained()
    }

    /// The RPC's task has its cancellation handle: a deadline or close that came first applies now.
    func attach(_ handle: ServerContext.RPCCancellationHandle, to id: UInt32) {
        guard active[id] != nil else {
            handle.cancel()
            return
        }
        active[id]?.cancellation = handle
    }

    /// The handler's answer; dropped when the call was already answered (deadline) or the
    /// connection is gone. `delivery` learns whether an OK answer reached the connection.
    func respond(_ id: UInt32, status: TTRPCStatus, payload: [UInt8], delivery: WireDelivery? = nil) {
        guard finish(id, delivery: delivery) else { return }
        let response = TTRPCResponse(status: status, payload: payload)
        if response.encodedSize > maxMessageSize {
            refuseOversized(id, size: response.encodedSize, delivery: delivery)
        } else if status.code == 0, let delivery {
            write(id, response, delivery: delivery)
        } else {
            write(id, response)
            delivery?.settle(delivered: false)
        }
        closeIfDrained()
    }

    /// A direct method's OK answer, its message already in a buffer of its own: written behind
    /// the frame header and the Response fields before it. A small message is copied in with
    /// them (one write); a large one (or a field's large contents) follows as a second buffer in
    /// the same flush.
    func respond(_ id: UInt32, payload: WirePayload, delivery: WireDelivery?) {
        guard finish(id, delivery: delivery) else { return }
        let size = TTRPCResponse.okSize(payload: payload.count)
        guard size <= maxMessageSize else {
            refuseOversized(id, size: size, delivery: delivery)
            closeIfDrained()
            return
        }
        guard let context else {
            delivery?.settle(delivered: false)
            return
        }
        // The same rule `append` follows: a large payload adds its field header at most (16 is ample).
        let inline = payload.count <= Self.copiedPayloadLimit
        var head = context.channel.allocator.buffer(
            capacity: TTRPCFrameHeader.size + (inline ? size : size - payload.count + 16))
        TTRPCFrameHeader(length: UInt32(truncatingIfNeeded: size), streamID: id, type: TTRPC.responseType)
            .encode(into: &head)
        TTRPCResponse.encodeOKPrefix(payload: payload.count, into: &head)
        if let rest = payload.append(to: &head, copyingUpTo: Self.copiedPayloadLimit) {
            context.write(wrapOutboundOut(head), promise: nil)
            send(rest, delivery: delivery, context: context)
        } else {
            send(head, delivery: delivery, context: context)
        }
        closeIfDrained()
    }

    /// Payloads up to this size are copied behind their header rather than written as a second
    /// buffer: a copy that small costs less than another trip through the pipeline.
    static let copiedPayloadLimit = 4096

    /// The call is no longer in flight; false (and the delivery settled) when it was not any more.
    private func finish(_ id: UInt32, delivery: WireDelivery?) -> Bool {
        guard let entry = active.removeValue(forKey: id) else {
            delivery?.settle(delivered: false)
            return false
        }
        entry.deadline?.cancel()
        return true
    }

    /// Go's server would drop the whole connection here; the limit is the client's too.
    private func refuseOversized(_ id: UInt32, size: Int, delivery: WireDelivery?) {
        writeStatus(id, TTRPCStatus(
            code: Int32(Status.Code.resourceExhausted.rawValue),
            message: "response message length \(size) exceeds maximum message size of \(maxMessageSize)"))
        delivery?.settle(delivered: false)
    }

    /// Go's Shutdown: the connection closes once no call is in flight.
    func beginGracefulShutdown() {
        draining = true
        closeIfDrained()
    }

    private func closeIfDrained() {
        guard draining, active.isEmpty, !closing, let context else { return }
        closing = true
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelAll()
        context.fireChannelInactive()
    }

    private func cancelAll() {
        let entries = active
        active = [:]
        for entry in entries.values {
            entry.deadline?.cancel()
            entry.cancellation?.cancel()
        }
        calls.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        closing = true
        if error is TTRPCStreamError {
            logger.warning("ttrpc connection closed", metadata: ["peer": "\(peer(context))", "reason": "\(error)"])
        } else if let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE {
            // The client went away; Go ends such a connection silently too.
        } else {
            logger.warning("ttrpc connection closed", metadata: ["peer": "\(peer(context))", "reason": "\(error)"])
        }
        context.close(promise: nil)
    }

    private func peer(_ context: ChannelHandlerContext) -> String {
        context.channel.remoteAddress.map { "\($0)" } ?? "local"
    }

    private func writeStatus(_ id: UInt32, _ status: TTRPCStatus) {
        write(id, TTRPCResponse(status: status))
    }

    private func write(_ id: UInt32, _ response: TTRPCResponse, delivery: WireDelivery? = nil) {
        guard let context else {
            delivery?.settle(delivered: false)
            return
        }
        let size = response.encodedSize
        var buffer = context.channel.allocator.buffer(capacity: TTRPCFrameHeader.size + size)
        TTRPCFrameHeader(length: UInt32(truncatingIfNeeded: size), streamID: id, type: TTRPC.responseType)
            .encode(into: &buffer)
        response.encode(into: &buffer)
        send(buffer, delivery: delivery, context: context)
    }

    /// Writes and flushes `buffer`, the last of an answer; `delivery` learns whether it reached the socket.
    private func send(_ buffer: ByteBuffer, delivery: WireDelivery?, context: ChannelHandlerContext) {
        guard let delivery, delivery.isAwaited else {
            // Nobody waits for this outcome (a Check, a status): no promise, whose future and
            // callback were a few percent of a small call. Handed to the channel counts as
            // delivered, as on the gRPC path, should anyone ask later.
            delivery?.settle(delivered: true)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            return
        }
        // The write's result is the outcome: it fails when the connection closed before the
        // bytes reached the socket (the client left, or the write hit EPIPE).
        delivery.answering()
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { result in
            if case .success = result {
                delivery.settle(delivered: true)
            } else {
                delivery.settle(delivered: false)
            }
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: promise)
    }
}

extension TTRPCStatus {
    static func invalidArgument(_ message: String) -> TTRPCStatus {
        TTRPCStatus(code: Int32(Status.Code.invalidArgument.rawValue), message: message)
    }

    /// ttrpc-rust's wording for a call cut off by its deadline.
    static let deadlineExceeded = TTRPCStatus(
        code: Int32(Status.Code.deadlineExceeded.rawValue), message: "deadline exceeded")
}
