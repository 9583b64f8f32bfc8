import Foundation
import GRPCCore
import Logging
import Synchronization
import XCTest

@testable import AgentWire

/// WireDelivery through a real ttrpc connection: a handler learns whether its OK answer reached
/// the connection, so what it handed out (ReadStdout's bytes) can go back when it did not.
final class WireDeliveryTests: XCTestCase {
    private var logger: Logger {
        var logger = Logger(label: "delivery-test")
        logger.logLevel = .critical
        return logger
    }

    private func start(_ handler: @escaping RPCStreamHandler) async throws -> String {
        try await startTransport(handler, logger: logger, prefix: "kata-delivery")
    }

    private static func answer(_ stream: ServerRPCStream, _ message: [UInt8], code: Status.Code = .ok) async {
        try? await stream.outbound.write(.metadata([:]))
        try? await stream.outbound.write(.message(message))
        try? await stream.outbound.write(.status(Status(code: code, message: ""), [:]))
        await stream.outbound.finish()
    }

    /// Reports the current call's outcome, as the handler's `onOutcome` gets it, to `outcomes`.
    private static func report(to outcomes: AsyncStream<Bool>.Continuation) {
        guard let delivery = WireDelivery.current else {
            XCTFail("the ttrpc codec set no WireDelivery for the handler")
            outcomes.yield(false)
            return
        }
        delivery.onOutcome { outcomes.yield($0) }
    }

    private static func first(_ outcomes: AsyncStream<Bool>) async -> Bool? {
        var iterator = outcomes.makeAsyncIterator()
        return await iterator.next()
    }

    func testAnswerWrittenIsDelivered() async throws {
        let outcomes = AsyncStream<Bool>.makeStream()
        let path = try await start { stream, _ in
            Self.report(to: outcomes.continuation)
            await Self.answer(stream, Array("data".utf8))
        }
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, "grpc.AgentService", "ReadStdout")
        XCTAssertEqual(String(decoding: response.payload, as: UTF8.self), "data")
        let delivered = await Self.first(outcomes.stream)
        XCTAssertEqual(delivered, true)
    }

    /// The client leaves while the handler holds its answer: the answer is not written, and the
    /// handler is told so (before the fix the bytes were dropped with it).
    func testClientGoneBeforeTheAnswerIsUndelivered() async throws {
        let outcomes = AsyncStream<Bool>.makeStream()
        let gone = AsyncStream<Void>.makeStream()
        let path = try await start { stream, _ in
            Self.report(to: outcomes.continuation)
            await withRPCCancellationHandler {
                var iterator = gone.stream.makeAsyncIterator()
                _ = await iterator.next()
            } onCancelRPC: {
                gone.continuation.yield()
            }
            await Self.answer(stream, Array("data".utf8))
        }
        let client = try RawTTRPCClient.connect(path: path)
        client.request(1, "grpc.AgentService", "ReadStdout")
        shutdown(client.fd, Int32(SHUT_RDWR))
        let delivered = await Self.first(outcomes.stream)
        XCTAssertEqual(delivered, false, "an answer to a client that left counted as delivered")
    }

    func testAnswerAfterTheDeadlineIsUndelivered() async throws {
        let outcomes = AsyncStream<Bool>.makeStream()
        let late = AsyncStream<Void>.makeStream()
        let path = try await start { stream, _ in
            Self.report(to: outcomes.continuation)
            await withRPCCancellationHandler {
                var iterator = late.stream.makeAsyncIterator()
                _ = await iterator.next()
            } onCancelRPC: {
                late.continuation.yield()
            }
            await Self.answer(stream, Array("late".utf8))
        }
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, "grpc.AgentService", "ReadStdout", timeoutNano: 50_000_000)
        XCTAssertEqual(response.status.code, Int32(Status.Code.deadlineExceeded.rawValue))
        let delivered = await Self.first(outcomes.stream)
        XCTAssertEqual(delivered, false)
    }

    func testErrorAnswerIsNotADelivery() async throws {
        let outcomes = AsyncStream<Bool>.makeStream()
        let path = try await start { stream, _ in
            Self.report(to: outcomes.continuation)
            await Self.answer(stream, [], code: .notFound)
        }
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, "grpc.AgentService", "ReadStdout")
        XCTAssertEqual(response.status.code, Int32(Status.Code.notFound.rawValue))
        let delivered = await Self.first(outcomes.stream)
        XCTAssertEqual(delivered, false)
    }

    /// An answer nobody awaited goes out without a completion promise; the delivery is then
    /// settled as handed to the connection, so a late `onOutcome` still learns an outcome.
    func testUnawaitedAnswerSettlesDelivered() async throws {
        let captured = AsyncStream<WireDelivery?>.makeStream()
        let path = try await start { stream, _ in
            captured.continuation.yield(WireDelivery.current)
            await Self.answer(stream, Array("ok".utf8))
        }
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, "grpc.Health", "Check")
        XCTAssertEqual(String(decoding: response.payload, as: UTF8.self), "ok")
        var iterator = captured.stream.makeAsyncIterator()
        guard let delivery = await iterator.next() ?? nil else {
            return XCTFail("the ttrpc codec set no WireDelivery for the handler")
        }
        let outcome = Mutex<Bool?>(nil)
        delivery.onOutcome { delivered in outcome.withLock { $0 = delivered } }
        XCTAssertEqual(outcome.withLock { $0 }, true, "the outcome is known once the answer was written")
    }

    /// A handler that ends without writing any answer still settles (nothing waits for ever).
    func testHandlerWithoutAnswerSettlesUndelivered() async throws {
        let outcomes = AsyncStream<Bool>.makeStream()
        let path = try await start { stream, _ in
            Self.report(to: outcomes.continuation)
            await stream.outbound.finish()
        }
        let client = try RawTTRPCClient.connect(path: path)
        _ = try client.call(1, "grpc.AgentService", "ReadStdout")
        let delivered = await Self.first(outcomes.stream)
        XCTAssertEqual(delivered, false)
    }
}
