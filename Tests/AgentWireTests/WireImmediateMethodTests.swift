import Foundation
import GRPCCore
import Logging
import Synchronization
@testable import TTRPCWire
import XCTest

@testable import AgentWire

/// The immediate path of a direct method (WireUnaryMethod.immediate): answered on the
/// connection's event loop when it can answer now, handed to the ordinary path when it returns
/// nil, and indistinguishable from that path to the client (statuses, delivery, trace context,
/// graceful shutdown).
final class WireImmediateMethodTests: XCTestCase {
    private var logger: Logger {
        var logger = Logger(label: "wire-immediate-test")
        logger.logLevel = .critical
        return logger
    }

    /// Bodies served twice: "test.Async/<name>" only through `handle`, "test.Now/<name>" through
    /// `immediate` (the error kinds WireUnaryMethodTests compares with GRPCServer's answers).
    static let bodies: [(name: String, body: @Sendable ([UInt8]) throws -> [UInt8])] = [
        ("Echo", { $0 }),
        ("NotFound", { _ in throw RPCError(code: .notFound, message: "container 'c1' not found") }),
        ("Convertible", { _ in throw WireUnaryMethodTests.Convertible() }),
        ("Plain", { _ in throw WireUnaryMethodTests.Plain() }),
        ("Cancelled", { _ in throw CancellationError() }),
    ]

    /// A transport whose only methods are `unary` (every call here is direct).
    private func startServer(_ unary: WireUnaryMethods, box: TransportBox? = nil) async throws -> String {
        try await startTransport({ _, _ in }, unary: unary, logger: logger, prefix: "kata-immediate", box: box)
    }

    private static func method(
        _ name: String, _ unary: inout WireUnaryMethods, async handle: @escaping @Sendable () async throws -> [UInt8],
        now: (@Sendable ([UInt8]) throws -> WirePayload?)?
    ) {
        unary.insert(
            MethodDescriptor(fullyQualifiedService: "test.Now", method: name),
            WireUnaryMethod({ _, _ in WirePayload(try await handle()) }, immediate: now))
    }

    func testImmediateAnswersAsTheOrdinaryPathAnswersTheSameBody() async throws {
        var unary = WireUnaryMethods()
        for (name, body) in Self.bodies {
            unary.insert(
                MethodDescriptor(fullyQualifiedService: "test.Async", method: name),
                WireUnaryMethod(bytes: { request, _ in try body(request) }))
            unary.insert(
                MethodDescriptor(fullyQualifiedService: "test.Now", method: name),
                WireUnaryMethod(
                    { _, _ in WirePayload(Array("not immediate".utf8)) },
                    immediate: { request in WirePayload(try body(request)) }))
        }
        let client = try RawTTRPCClient.connect(path: try await startServer(unary))
        var id: UInt32 = 1
        for (name, _) in Self.bodies {
            let ordinary = try client.call(id, "test.Async", name, payload: [7, 8, 9])
            let now = try client.call(id + 2, "test.Now", name, payload: [7, 8, 9])
            id += 4
            XCTAssertEqual(now.status, ordinary.status, name)
            XCTAssertEqual(now.payload, ordinary.payload, name)
        }
        let convertible = try client.call(id, "test.Now", "Convertible")
        XCTAssertEqual(convertible.status.code, Int32(Status.Code.failedPrecondition.rawValue))
        XCTAssertEqual(convertible.status.message, "sandbox not created yet")
    }

    /// An answer now comes from `immediate`; nil sends the call to `handle`, which answers it.
    func testNilHandsTheCallToTheOrdinaryPath() async throws {
        var unary = WireUnaryMethods()
        Self.method("Ready", &unary, async: { Array("async".utf8) }, now: { _ in WirePayload(Array("now".utf8)) })
        Self.method("Waits", &unary, async: { Array("async".utf8) }, now: { _ in nil })
        let client = try RawTTRPCClient.connect(path: try await startServer(unary))
        XCTAssertEqual(String(decoding: try client.call(1, "test.Now", "Ready").payload, as: UTF8.self), "now")
        XCTAssertEqual(String(decoding: try client.call(3, "test.Now", "Waits").payload, as: UTF8.self), "async")
        // A deadline on an immediate call ends with its answer: the connection's next call gets its own.
        XCTAssertEqual(String(decoding: try client.call(5, "test.Now", "Ready", timeoutNano: 1_000_000).payload, as: UTF8.self), "now")
        XCTAssertEqual(String(decoding: try client.call(7, "test.Now", "Waits").payload, as: UTF8.self), "async")
    }

    /// The call's trace context and delivery are bound while `immediate` runs, and the delivery
    /// learns that the answer reached the connection.
    func testImmediateSeesTraceContextAndDelivery() async throws {
        let outcomes = Mutex<[Bool]>([])
        var unary = WireUnaryMethods()
        Self.method("Traced", &unary, async: { [] }, now: { _ in
            guard let delivery = WireDelivery.current else { return WirePayload(Array("no delivery".utf8)) }
            delivery.onOutcome { delivered in outcomes.withLock { $0.append(delivered) } }
            return WirePayload(Array((WireTraceContext.traceparent ?? "none").utf8))
        })
        Self.method("Echo", &unary, async: { [] }, now: { WirePayload($0) })
        let client = try RawTTRPCClient.connect(path: try await startServer(unary))
        let traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let response = try client.call(1, "test.Now", "Traced", metadata: [TTRPCKeyValue(key: "traceparent", value: traced)])
        XCTAssertEqual(String(decoding: response.payload, as: UTF8.self), traced)
        // The loop settles a write before it reads the next request: answered, so settled.
        XCTAssertEqual(try client.call(3, "test.Now", "Echo", payload: [1]).payload, [1])
        XCTAssertEqual(outcomes.withLock { $0 }, [true])
    }

    /// An immediate call that starts the transport's graceful shutdown still gets its answer;
    /// then the connection closes.
    func testGracefulShutdownFromAnImmediateCallSendsItsAnswerThenCloses() async throws {
        let box = TransportBox()
        var unary = WireUnaryMethods()
        Self.method("DestroySandbox", &unary, async: { [] }, now: { _ in
            box.transport?.beginGracefulShutdown()
            return WirePayload(Array("bye".utf8))
        })
        let client = try RawTTRPCClient.connect(path: try await startServer(unary, box: box))
        let response = try client.call(1, "test.Now", "DestroySandbox")
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(String(decoding: response.payload, as: UTF8.self), "bye")
        XCTAssertTrue(client.closedByPeer(), "the connection stayed open after the shutdown")
    }
}
