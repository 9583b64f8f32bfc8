import AgentWire
import NIOCore
import TTRPCWire

/// Why a ttrpc call ended without the agent's answer, or the agent's non-OK status.
struct TTRPCCallError: Error, Sendable {
    /// gRPC status code (ttrpc carries google.rpc.Status).
    let code: Int32
    let message: String
}

/// One call handed to the connection: the request and where its answer goes.
struct TTRPCClientCall: Sendable {
    let request: TTRPCRequest
    /// How long the client waits for the answer beyond the request's own timeout_nano, so the
    /// agent's DEADLINE_EXCEEDED (not the client's) is what the caller sees; nil waits forever.
    let wait: TimeAmount?
    let promise: EventLoopPromise<TTRPCResponse>
}

/// The client half of a ttrpc connection, as containerd/ttrpc's Go client: odd stream ids,
/// any number of calls in flight, answers matched by stream id in whatever order they come.
/// Frames come from AgentWire's TTRPCFrameDecoder ahead of it (the server's rules, payloads as
/// slices of what was read); a stream that can no longer be framed, or the agent closing the
/// connection, fails every call still waiting.
final class TTRPCClientHandler: ChannelDuplexHandler {
    typealias InboundIn = TTRPCInboundFrame
    typealias OutboundIn = TTRPCClientCall
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        let promise: EventLoopPromise<TTRPCResponse>
        let timer: Scheduled<Void>?
    }

    /// A run of sequential calls sent from this handler (`startLoop`), one in flight at a time.
    private struct Loop {
        /// The request's encoded bytes; each call frames them under its own stream id.
        let request: ByteBuffer
        /// Sees each answer; true sends the next call.
        let onAnswer: (TTRPCResponse) -> Bool
        let done: EventLoopPromise<Void>
        var streamID: UInt32 = 0
    }

    private var pending: [UInt32: Pending] = [:]
    private var loop: Loop?
    private var nextStreamID: UInt32 = 1
    /// Set once the connection is unusable; later calls fail with it at once.
    private var closedReason: TTRPCCallError?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call = unwrapOutboundIn(data)
        promise?.succeed()
        if let closedReason {
            call.promise.fail(closedReason)
            return
        }
        let size = call.request.encodedSize
        guard size <= TTRPC.maxMessageSize else {
            call.promise.fail(TTRPCCallError(
                code: 8, message: "request of \(size) bytes exceeds ttrpc's \(TTRPC.maxMessageSize)-byte message limit"))
            return
        }
        // Odd ids only; after 2^31 calls on one connection there are none left.
        guard nextStreamID < UInt32.max - 1 else {
            call.promise.fail(TTRPCCallError(code: 14, message: "ttrpc stream ids of this connection are used up"))
            return
        }
        let streamID = nextStreamID
        nextStreamID += 2

        let timer = call.wait.map { wait in
            context.eventLoop.assumeIsolated().scheduleTask(in: wait) { [weak self] in
                guard let self, let entry = self.pending.removeValue(forKey: streamID) else { return }
                entry.promise.fail(TTRPCCallError(code: 4, message: "no answer from the agent within the call's deadline"))
            }
        }
        pending[streamID] = Pending(promise: call.promise, timer: timer)

        var buffer = context.channel.allocator.buffer(capacity: TTRPCFrameHeader.size + size)
        TTRPCFrameHeader(length: UInt32(size), streamID: streamID, type: TTRPC.requestType).encode(into: &buffer)
        call.request.encode(into: &buffer)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { [weak self] error in
            self?.finish(streamID, .failure(TTRPCCallError(code: 14, message: "cannot send the request: \(error)")))
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: written)
    }

    /// Sends `request` again as each answer arrives, from this handler on the loop, until
    /// `onAnswer` returns false: the bench's load generator, with no task, promise or timer
    /// per call (those were about half of this client's instructions per call). `done` fails
    /// when a call cannot be sent, its answer cannot be decoded, or the connection ends.
    func startLoop(
        context: ChannelHandlerContext, request: TTRPCRequest, onAnswer: @escaping (TTRPCResponse) -> Bool,
        done: EventLoopPromise<Void>
    ) {
        if let closedReason { return done.fail(closedReason) }
        guard loop == nil else {
            return done.fail(TTRPCCallError(code: 9, message: "a call loop is already running on this connection"))
        }
        let size = request.encodedSize
        guard size <= TTRPC.maxMessageSize else {
            return done.fail(TTRPCCallError(
                code: 8, message: "request of \(size) bytes exceeds ttrpc's \(TTRPC.maxMessageSize)-byte message limit"))
        }
        var encoded = context.channel.allocator.buffer(capacity: size)
        request.encode(into: &encoded)
        loop = Loop(request: encoded, onAnswer: onAnswer, done: done)
        sendLoopCall(context: context)
    }

    private func sendLoopCall(context: ChannelHandlerContext) {
        guard var current = loop else { return }
        guard nextStreamID < UInt32.max - 1 else {
            loop = nil
            return current.done.fail(TTRPCCallError(code: 14, message: "ttrpc stream ids of this connection are used up"))
        }
        current.streamID = nextStreamID
        nextStreamID += 2
        loop = current
        var frame = context.channel.allocator.buffer(capacity: TTRPCFrameHeader.size + current.request.readableBytes)
        TTRPCFrameHeader(length: UInt32(current.request.readableBytes), streamID: current.streamID, type: TTRPC.requestType)
            .encode(into: &frame)
        var body = current.request
        frame.writeBuffer(&body)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    /// A loop call's answer: handed on, then the next call or the end of the loop.
    private func loopAnswer(context: ChannelHandlerContext, _ decoded: Result<TTRPCResponse, ProtoDecodingError>) {
        guard let current = loop else { return }
        switch decoded {
        case let .success(response):
            if current.onAnswer(response) {
                sendLoopCall(context: context)
            } else {
                loop = nil
                current.done.succeed()
            }
        case let .failure(error):
            loop = nil
            current.done.fail(TTRPCCallError(code: 13, message: "undecodable ttrpc response: \(error)"))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .frame(header, payload):
            // Only responses answer a unary call; the protocol lets a peer skip other types.
            guard header.type == TTRPC.responseType else { return }
            let decoded = payload.withUnsafeReadableBytes { raw in
                Result { () throws(ProtoDecodingError) in try TTRPCResponse(decoding: raw) }
            }
            if let loop, loop.streamID == header.streamID {
                return loopAnswer(context: context, decoded)
            }
            finish(header.streamID, decoded.mapError { error in
                TTRPCCallError(code: 13, message: "undecodable ttrpc response: \(error)")
            })
        case let .oversized(header):
            let error = TTRPCCallError(
                code: 8, message: "response of \(header.length) bytes exceeds the \(TTRPC.maxMessageSize)-byte limit")
            if let current = loop, current.streamID == header.streamID {
                loop = nil
                return current.done.fail(error)
            }
            finish(header.streamID, .failure(error))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(TTRPCCallError(code: 14, message: "the agent closed the ttrpc connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is TTRPCStreamError {
            failAll(TTRPCCallError(code: 13, message: "the agent's ttrpc stream cannot be framed: \(error)"))
        } else {
            failAll(TTRPCCallError(code: 14, message: "ttrpc connection failed: \(error)"))
        }
        context.close(promise: nil)
    }

    private func finish(_ streamID: UInt32, _ result: Result<TTRPCResponse, TTRPCCallError>) {
        // An answer whose caller already gave up (its deadline passed) has no entry: dropped.
        guard let entry = pending.removeValue(forKey: streamID) else { return }
        entry.timer?.cancel()
        entry.promise.completeWith(result.mapError { $0 as any Error })
    }

    private func failAll(_ error: TTRPCCallError) {
        if closedReason == nil { closedReason = error }
        let waiting = pending
        pending.removeAll()
        if let current = loop {
            loop = nil
            current.done.fail(error)
        }
        for entry in waiting.values {
            entry.timer?.cancel()
            entry.promise.fail(error)
        }
    }
}
