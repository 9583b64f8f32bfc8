import AgentWireClient
import Foundation
import GRPCCore
import Logging
import NIOCore
import NIOPosix
import Synchronization
import XCTest

@testable import AgentWire

/// A ServerTransport with nothing but GRPCHTTP2Codec on one unix socket, so the codec's tests run
/// GRPCCore's real server (executor, deadlines, status mapping) above it, as the agent does.
final class GRPCHTTP2TestTransport: ServerTransport {
    typealias Bytes = WireBytes

    private let listener: NIOAsyncChannel<GRPCHTTP2Codec.Connection, Never>
    private let connections = Mutex<[GRPCHTTP2Codec.Connection]>([])
    private let logger: Logger

    private init(listener: NIOAsyncChannel<GRPCHTTP2Codec.Connection, Never>, logger: Logger) {
        self.listener = listener
        self.logger = logger
    }

    /// Binds before the server starts, so clients need no retry loop.
    static func bind(path: String, limits: WireLimits) async throws -> GRPCHTTP2TestTransport {
        var logger = Logger(label: "grpc-http2-codec-test")
        logger.logLevel = .critical
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { [logger] channel in
                GRPCHTTP2Codec.configure(channel: channel, limits: limits, logger: logger)
            }
        return GRPCHTTP2TestTransport(listener: listener, logger: logger)
    }

    func listen(
        streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void
    ) async throws {
        try await self.listener.executeThenClose { inbound in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in inbound {
                    self.connections.withLock { $0.append(connection) }
                    group.addTask {
                        await GRPCHTTP2Codec.serve(connection, handler: streamHandler, logger: self.logger)
                    }
                }
            }
        }
    }

    func beginGracefulShutdown() {
        self.listener.channel.close(promise: nil)
        for connection in self.connections.withLock({ $0 }) {
            connection.beginGracefulShutdown()
        }
    }
}

/// Raw bytes in, raw bytes out: the tests need no protobuf.
struct RawCoder: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
        Bytes(message)
    }

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

/// Events the test service reports, in order, so a test can wait for "the handler saw X".
final class HandlerProbe: Sendable {
    let events: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    init() {
        (self.events, self.continuation) = AsyncStream.makeStream(of: String.self)
    }

    func report(_ event: String) {
        self.continuation.yield(event)
    }

    /// The next event, or a failure after `seconds` (a deadline for a hung codec, not a timing assert).
    func next(within seconds: Int = 30) async throws -> String {
        try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                var iterator = self.events.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let event = try await group.next() ?? nil else {
                throw RPCError(code: .deadlineExceeded, message: "no handler event within \(seconds) s")
            }
            return event
        }
    }
}

/// Counts arrivals and releases everyone once `target` handlers run at the same time.
final class Barrier: Sendable {
    private struct State {
        var arrived = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let target: Int
    private let state = Mutex(State())

    init(target: Int) {
        self.target = target
    }

    func arriveAndWait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let release = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.arrived += 1
                state.waiters.append(continuation)
                if state.arrived >= self.target {
                    defer { state.waiters = [] }
                    return state.waiters
                }
                return []
            }
            for waiter in release { waiter.resume() }
        }
    }
}

/// The service the codec tests call: echo, a fixed error, a call that waits for its
/// cancellation, and a barrier that only returns when `barrier.target` calls run at once.
struct CodecTestService: RegistrableRPCService {
    static let unary = MethodDescriptor(fullyQualifiedService: "test.Echo", method: "Unary")
    static let fail = MethodDescriptor(fullyQualifiedService: "test.Echo", method: "Fail")
    static let waitForCancel = MethodDescriptor(fullyQualifiedService: "test.Echo", method: "WaitForCancel")
    static let barrier = MethodDescriptor(fullyQualifiedService: "test.Echo", method: "Barrier")
    static let gate = MethodDescriptor(fullyQualifiedService: "test.Echo", method: "Gate")
    static let failMessage = "container 'c\u{e9}1' not found: 100% gone\nnext line"

    let probe: HandlerProbe
    let barrier: Barrier
    /// Gate calls wait here until the test arrives too (target 2).
    let gate: Barrier

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(forMethod: Self.unary, deserializer: RawCoder(), serializer: RawCoder()) {
            request, _ in
            let single = try await ServerRequest(stream: request)
            var trailing = Metadata()
            for value in single.metadata[stringValues: "x-echo"] {
                trailing.addString(value, forKey: "x-echo")
            }
            for value in single.metadata[binaryValues: "x-echo-bin"] {
                trailing.addBinary(value, forKey: "x-echo-bin")
            }
            return StreamingServerResponse(
                single: ServerResponse(message: single.message, metadata: [:], trailingMetadata: trailing))
        }
        router.registerHandler(forMethod: Self.fail, deserializer: RawCoder(), serializer: RawCoder()) {
            request, _ in
            _ = try await ServerRequest(stream: request)
            throw RPCError(code: .notFound, message: Self.failMessage)
        }
        router.registerHandler(forMethod: Self.waitForCancel, deserializer: RawCoder(), serializer: RawCoder()) {
            [probe] request, context in
            _ = try await ServerRequest(stream: request)
            probe.report("started")
            // Suspends until the codec (reset, lost connection) or the executor (deadline) cancels.
            try? await context.cancellation.cancelled
            probe.report(context.cancellation.isCancelled ? "cancelled" : "task-cancelled")
            throw RPCError(code: .cancelled, message: "cancelled")
        }
        router.registerHandler(forMethod: Self.barrier, deserializer: RawCoder(), serializer: RawCoder()) {
            [barrier] request, _ in
            let single = try await ServerRequest(stream: request)
            await barrier.arriveAndWait()
            return StreamingServerResponse(single: ServerResponse(message: single.message))
        }
        router.registerHandler(forMethod: Self.gate, deserializer: RawCoder(), serializer: RawCoder()) {
            [probe, gate] request, _ in
            let single = try await ServerRequest(stream: request)
            probe.report("gate-waiting")
            await gate.arriveAndWait()
            return StreamingServerResponse(single: ServerResponse(message: single.message))
        }
    }
}

/// Runs GRPCServer over the codec on a fresh unix socket, hands `body` a GRPCCore client on
/// AgentWireClient's transport (HTTP/2 over the same socket), the socket path and a way to begin graceful shutdown early,
/// then shuts the server down gracefully.
func withCodecServer(
    limits: WireLimits = WireLimits(maxMessageSize: 1024), probe: HandlerProbe = HandlerProbe(),
    barrier: Barrier = Barrier(target: 100), gate: Barrier = Barrier(target: 2),
    _ body: @Sendable (GRPCClient<GRPCPlaintextClientTransport>, String, @escaping @Sendable () -> Void) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.path + "/grpc-codec-" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/grpc.sock"
    let transport = try await GRPCHTTP2TestTransport.bind(path: path, limits: limits)
    let server = GRPCServer(transport: transport, services: [CodecTestService(probe: probe, barrier: barrier, gate: gate)])
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve() }
        let result: Result<Void, any Error>
        do {
            let clientTransport = try await GRPCPlaintextClientTransport.open(unixPath: path)
            try await withGRPCClient(transport: clientTransport) { client in
                try await body(client, path) { server.beginGracefulShutdown() }
            }
            result = .success(())
        } catch {
            result = .failure(error)
        }
        server.beginGracefulShutdown()
        try await group.waitForAll()
        try result.get()
    }
}
