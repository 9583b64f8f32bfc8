import GRPCCore
import Logging
import NIOCore
import Synchronization
import TTRPCWire

/// ttrpc (containerd/ttrpc) on one connection: the codec the listener hands every connection
/// whose first byte is 0. A request for a method in the direct table (WireUnaryMethods) calls
/// that service method itself; any other becomes a unary RPC stream for GRPCServer. Either way
/// the handlers and their error mapping are the same as over gRPC.
enum TTRPCCodec: ConnectionCodec {
    /// One configured ttrpc connection.
    struct Connection: Sendable {
        let channel: any Channel
        let calls: TTRPCCallQueue
        let handler: NIOLoopBound<TTRPCServerHandler>

        /// Runs `body` with the connection's handler on its event loop (at once when already there).
        func onLoop(_ body: @escaping @Sendable (TTRPCServerHandler) -> Void) {
            let handler = self.handler
            if channel.eventLoop.inEventLoop {
                body(handler.value)
            } else {
                channel.eventLoop.execute { body(handler.value) }
            }
        }

        /// No new connection-level work: the connection closes once its calls finished.
        func beginGracefulShutdown() {
            onLoop { $0.beginGracefulShutdown() }
        }
    }

    static func configure(channel: any Channel, limits: WireLimits, logger: Logger) -> EventLoopFuture<Connection> {
        configure(channel: channel, limits: limits, unary: WireUnaryMethods(), logger: logger)
    }

    /// Configures the connection; the methods of `unary` with an immediate path are answered
    /// on the loop as their requests are read, from the first one on.
    static func configure(
        channel: any Channel, limits: WireLimits, unary: WireUnaryMethods, logger: Logger
    ) -> EventLoopFuture<Connection> {
        channel.eventLoop.makeCompletedFuture {
            let calls = TTRPCCallQueue()
            let handler = TTRPCServerHandler(
                logger: logger, maxMessageSize: limits.maxMessageSize, calls: calls, unary: unary)
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ByteToMessageHandler(TTRPCFrameDecoder(maxMessageSize: limits.maxMessageSize)))
            try sync.addHandler(handler)
            return Connection(channel: channel, calls: calls, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
        }
    }

    static func serve(_ connection: Connection, handler: @escaping RPCStreamHandler, logger: Logger) async {
        await serve(connection, handler: handler, unary: WireUnaryMethods(), logger: logger)
    }

    /// Serves the connection, calling the methods in `unary` directly and handing every other
    /// call to `handler` (GRPCServer) as a unary RPC stream.
    static func serve(
        _ connection: Connection, handler: @escaping RPCStreamHandler, unary: WireUnaryMethods, logger: Logger
    ) async {
        let peers = WirePeers(channel: connection.channel)
        await withDiscardingTaskGroup { group in
            while let call = await connection.calls.next() {
                group.addTask {
                    await run(call, on: connection, handler: handler, unary: unary, peers: peers)
                }
            }
        }
        // The connection closed, or serve's task was cancelled (the transport stopping).
        connection.channel.close(promise: nil)
    }

    private static func run(
        _ call: TTRPCCall, on connection: Connection, handler: @escaping RPCStreamHandler, unary: WireUnaryMethods,
        peers: WirePeers
    ) async {
        let request = call.request
        let id = call.streamID
        let delivery = WireDelivery()
        let direct = unary[service: request.service, method: request.method]
        await withServerContextRPCCancellationHandle { cancellation in
            connection.onLoop { $0.attach(cancellation, to: id) }
            let descriptor = MethodDescriptor(fullyQualifiedService: request.service, method: request.method)
            let context = ServerContext(
                descriptor: descriptor, remotePeer: peers.remote, localPeer: peers.local, cancellation: cancellation)
            let body: @Sendable () async -> Void = {
                if let direct {
                    await runDirect(direct, request.payload, context: context, id: id, on: connection, delivery: delivery)
                    return
                }
                var metadata = Metadata()
                for entry in request.metadata { metadata.addString(entry.value, forKey: entry.key) }
                let stream = ServerRPCStream(
                    descriptor: descriptor,
                    inbound: RPCAsyncSequence(wrapping: TTRPCRequestParts(metadata: metadata, message: request.payload)),
                    outbound: RPCWriter.Closable(
                        wrapping: TTRPCResponseWriter(streamID: id, connection: connection, delivery: delivery)))
                await handler(stream, context)
            }
            await WireDelivery.$current.withValue(delivery) {
                if let traceparent = WireTraceContext.traceparent(in: request.metadata) {
                    await WireTraceContext.$traceparent.withValue(traceparent) { await body() }
                } else {
                    await body()
                }
            }
        }
        // Queued after the writer's answer (the loop runs tasks in order): a handler that ended
        // without one must not leave what it lent waiting for an outcome for ever.
        connection.onLoop { _ in delivery.settleIfUnanswered() }
    }

    /// One call of a direct method: its answer, or its error as the status GRPCServer would give it.
    private static func runDirect(
        _ method: WireUnaryMethod, _ payload: WireBytes, context: ServerContext, id: UInt32, on connection: Connection,
        delivery: WireDelivery
    ) async {
        do {
            let response = try await method.handle(payload, context)
            connection.onLoop { $0.respond(id, payload: response, delivery: delivery) }
        } catch {
            let mapped = WireUnaryMethod.status(of: error)
            let status = TTRPCStatus(code: Int32(mapped.code.rawValue), message: mapped.message)
            connection.onLoop { $0.respond(id, status: status, payload: [], delivery: delivery) }
        }
    }
}

/// How the peers of one connection appear in ServerContext (unix/vsock sockets may have no address).
struct WirePeers: Sendable {
    let remote: String
    let local: String

    init(channel: any Channel) {
        self.remote = channel.remoteAddress.map { "\($0)" } ?? "unknown"
        self.local = channel.localAddress.map { "\($0)" } ?? "unknown"
    }
}

/// A unary call's request parts, all known when the call starts: its metadata, then its message.
struct TTRPCRequestParts: AsyncSequence, Sendable {
    typealias Element = RPCRequestPart<WireBytes>
    typealias Failure = any Error

    let metadata: Metadata
    let message: WireBytes

    struct AsyncIterator: AsyncIteratorProtocol {
        typealias Failure = any Error
        var parts: TTRPCRequestParts
        var index = 0

        mutating func next() async throws -> RPCRequestPart<WireBytes>? {
            defer { index += 1 }
            switch index {
            case 0: return .metadata(parts.metadata)
            case 1: return .message(parts.message)
            default: return nil
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(parts: self) }
}

/// Collects a unary call's response and sends it as one Response frame when the status comes.
final class TTRPCResponseWriter: ClosableRPCWriterProtocol {
    typealias Element = RPCResponsePart<WireBytes>

    private let streamID: UInt32
    private let connection: TTRPCCodec.Connection
    private let delivery: WireDelivery?
    private struct State {
        var message: WireBytes = []
        var answered = false
    }
    private let state = Mutex(State())

    init(streamID: UInt32, connection: TTRPCCodec.Connection, delivery: WireDelivery? = nil) {
        self.streamID = streamID
        self.connection = connection
        self.delivery = delivery
    }

    func write(_ element: Element) async throws {
        switch element {
        case .metadata:
            break
        case let .message(bytes):
            state.withLock { $0.message = bytes }
        case let .status(status, _):
            let code = Int32(status.code.rawValue)
            let payload = state.withLock { state -> WireBytes? in
                guard !state.answered else { return nil }
                state.answered = true
                // As the Go server: a payload only with an OK status.
                return code == 0 ? state.message : []
            }
            guard let payload else { return }
            answer(TTRPCStatus(code: code, message: status.message), payload)
        }
    }

    func write(contentsOf elements: some Sequence<Element>) async throws {
        for element in elements { try await write(element) }
    }

    func finish() async {
        finishWithoutStatus("the RPC ended without a status")
    }

    func finish(throwing error: any Error) async {
        finishWithoutStatus("the RPC failed: \(error)")
    }

    private func finishWithoutStatus(_ reason: String) {
        let unanswered = state.withLock { state in
            defer { state.answered = true }
            return !state.answered
        }
        if unanswered { answer(TTRPCStatus(code: Int32(Status.Code.unknown.rawValue), message: reason), []) }
    }

    private func answer(_ status: TTRPCStatus, _ payload: WireBytes) {
        let id = streamID
        let delivery = self.delivery
        connection.onLoop { $0.respond(id, status: status, payload: payload, delivery: delivery) }
    }
}
