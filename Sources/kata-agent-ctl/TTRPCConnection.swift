import AgentWire
import LinuxKit
import NIOCore
import NIOPosix
import TTRPCWire

/// A ttrpc connection to the agent on an already connected socket (unix, vsock or hybrid
/// vsock: the address kinds differ only in how the socket is dialled).
struct TTRPCConnection: Sendable {
    let channel: any Channel

    /// How much longer than timeout_nano the client waits for the agent's own answer.
    static let deadlineGrace: TimeAmount = .seconds(2)

    /// Takes ownership of `fd` and serves calls on `group`'s loop.
    static func open(fd: Int32, group: any EventLoopGroup) async throws -> TTRPCConnection {
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(TTRPCFrameDecoder()))
                    try sync.addHandler(TTRPCClientHandler())
                }
            }
            .withConnectedSocket(fd)
            .get()
        return TTRPCConnection(channel: channel)
    }

    /// One unary call. `timeout` becomes the request's timeout_nano (the agent cancels the
    /// handler and answers DEADLINE_EXCEEDED); nil sends none and waits as long as it takes.
    func call(service: String, method: String, payload: [UInt8], timeout: Duration?) async throws -> TTRPCResponse {
        let timeoutNano = Self.timeoutNano(timeout)
        // Saturated: a timeout of Int64.max nanoseconds plus the grace must not trap.
        let (waitNano, waitOverflow) = timeoutNano.addingReportingOverflow(Self.deadlineGrace.nanoseconds)
        let wait: TimeAmount? = timeout == nil ? nil : .nanoseconds(waitOverflow ? .max : waitNano)
        let request = TTRPCRequest(service: service, method: method, payload: payload, timeoutNano: timeoutNano)
        let promise = channel.eventLoop.makePromise(of: TTRPCResponse.self)
        // The handler completes `written` as it takes the call; a closed channel never reaches it.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            promise.fail(TTRPCCallError(code: 14, message: "the ttrpc connection is closed: \(error)"))
        }
        channel.writeAndFlush(TTRPCClientCall(request: request, wait: wait, promise: promise), promise: written)
        return try await promise.futureResult.get()
    }

    /// Calls `method` with the same request again and again, one call in flight, each sent by
    /// the connection's handler as the previous answer arrives, until `onAnswer` (run on the
    /// connection's event loop) returns false. The bench subcommands' load generator.
    func loop(
        service: String, method: String, payload: [UInt8], timeout: Duration?,
        onAnswer: @escaping @Sendable (TTRPCResponse) -> Bool
    ) async throws {
        let request = TTRPCRequest(service: service, method: method, payload: payload, timeoutNano: Self.timeoutNano(timeout))
        let done = channel.eventLoop.makePromise(of: Void.self)
        let pipeline = channel.pipeline
        channel.eventLoop.execute {
            do {
                let context = try pipeline.syncOperations.context(handlerType: TTRPCClientHandler.self)
                let handler = try pipeline.syncOperations.handler(type: TTRPCClientHandler.self)
                handler.startLoop(context: context, request: request, onAnswer: onAnswer, done: done)
            } catch {
                done.fail(TTRPCCallError(code: 14, message: "the ttrpc connection is closed: \(error)"))
            }
        }
        try await done.futureResult.get()
    }

    /// A call's timeout as timeout_nano (0: none), saturated rather than overflowing.
    static func timeoutNano(_ timeout: Duration?) -> Int64 {
        guard let timeout else { return 0 }
        let (seconds, attoseconds) = timeout.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, sumOverflow) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow || sumOverflow ? Int64.max : sum
    }

    func close() async {
        // Closing an already closed connection fails; nothing is left to do then.
        try? await channel.close()
    }
}
