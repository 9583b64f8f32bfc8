import Foundation
import GRPCCore
import Logging
@testable import TTRPCWire
import XCTest

@testable import AgentWire

/// AgentServerTransport with a handler written here instead of GRPCServer: what the ttrpc
/// codec hands a handler (trace context, cancellation at the deadline) and how the transport
/// stops (the answer of the call that asked for the stop still goes out).
final class AgentServerTransportTests: XCTestCase {
    private var logger: Logger {
        var logger = Logger(label: "transport-test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs a transport on a fresh unix socket with `handler`; returns the socket's path.
    private func start(_ handler: @escaping RPCStreamHandler) async throws -> String {
        try await startTransport(handler, logger: logger, prefix: "kata-wire")
    }

    /// Answers `message` with OK.
    private static func answer(_ stream: ServerRPCStream, _ message: [UInt8]) async {
        try? await stream.outbound.write(.metadata([:]))
        try? await stream.outbound.write(.message(message))
        try? await stream.outbound.write(.status(Status(code: .ok, message: ""), [:]))
        await stream.outbound.finish()
    }

    func testTraceparentFromMetadataReachesTheHandler() async throws {
        let path = try await start { stream, _ in
            await Self.answer(stream, Array((WireTraceContext.traceparent ?? "none").utf8))
        }
        let client = try RawTTRPCClient.connect(path: path)
        let traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let response = try client.call(1, "s", "m", metadata: [TTRPCKeyValue(key: "traceparent", value: traced)])
        XCTAssertEqual(String(decoding: response.payload, as: UTF8.self), traced)
        let plain = try client.call(3, "s", "m")
        XCTAssertEqual(String(decoding: plain.payload, as: UTF8.self), "none")
    }

    func testRequestPartsAreMetadataThenTheMessage() async throws {
        let path = try await start { stream, context in
            var parts: [String] = []
            do {
                for try await part in stream.inbound {
                    switch part {
                    case let .metadata(metadata): parts.append("metadata:\(metadata[stringValues: "k"].map { $0 })")
                    case let .message(bytes): parts.append("message:\(bytes)")
                    }
                }
            } catch {
                parts.append("error")
            }
            parts.append("\(context.descriptor.service.fullyQualifiedService)/\(context.descriptor.method)")
            await Self.answer(stream, Array(parts.joined(separator: " ").utf8))
        }
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, "grpc.Health", "Check", payload: [1, 2], metadata: [TTRPCKeyValue(key: "k", value: "v")])
        XCTAssertEqual(String(decoding: response.payload, as: UTF8.self), "metadata:[\"v\"] message:[1, 2] grpc.Health/Check")
    }

    /// At the deadline the client gets DEADLINE_EXCEEDED at once and the handler is cancelled
    /// through its RPC cancellation handle; its late answer is not sent.
    func testDeadlineAnswersAndCancelsTheHandler() async throws {
        let cancelled = AsyncStream<Void>.makeStream()
        let path = try await start { stream, context in
            if context.descriptor.method == "Slow" {
                await withRPCCancellationHandler {
                    while !context.cancellation.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
                } onCancelRPC: {
                    cancelled.continuation.yield()
                }
                await Self.answer(stream, Array("late".utf8))
            } else {
                await Self.answer(stream, Array("fast".utf8))
            }
        }
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, "s", "Slow", timeoutNano: 50_000_000)
        XCTAssertEqual(response.status.code, Int32(Status.Code.deadlineExceeded.rawValue))
        var iterator = cancelled.stream.makeAsyncIterator()
        _ = await iterator.next()
        let next = try client.call(3, "s", "Fast")
        XCTAssertEqual(String(decoding: next.payload, as: UTF8.self), "fast", "the late answer of stream 1 was sent")
    }

    /// A call that starts the transport's graceful shutdown still gets its answer; then the
    /// connection closes and listen returns.
    func testGracefulShutdownSendsTheLastAnswerThenCloses() async throws {
        let box = TransportBox()
        let path = "/tmp/kata-wire-\(UUID().uuidString.prefix(8)).sock"
        defer { unlink(path) }
        let transport = AgentServerTransport(listener: .unix(path: path), logger: logger)
        box.transport = transport
        let handler: RPCStreamHandler = { stream, _ in
            box.transport?.beginGracefulShutdown()
            await AgentServerTransportTests.answer(stream, Array("bye".utf8))
        }
        let listening = Task { try await transport.listen(streamHandler: handler) }
        _ = try await transport.listeningAddress
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, "grpc.AgentService", "DestroySandbox")
        XCTAssertEqual(String(decoding: response.payload, as: UTF8.self), "bye")
        XCTAssertTrue(client.closedByPeer(), "the connection stayed open after the shutdown")
        try await listening.value
    }

    func testFirstByteOfNeitherProtocolIsClosed() async throws {
        let path = try await start { stream, _ in await Self.answer(stream, []) }
        let client = try RawTTRPCClient.connect(path: path)
        client.send(Array("HELLO".utf8))
        XCTAssertTrue(client.closedByPeer())
        let good = try RawTTRPCClient.connect(path: path)
        XCTAssertEqual(try good.call(1, "s", "m").status, .ok)
    }
}

final class TransportBox: @unchecked Sendable {
    var transport: AgentServerTransport?
}
