import Foundation
import GRPCCore
import Logging
import NIOCore
@testable import TTRPCWire
import XCTest

@testable import AgentWire

/// The ttrpc codec's direct path (WireUnaryMethods): a listed method is called without
/// GRPCServer, and answers exactly as GRPCServer answers the same method body (status code and
/// message for every kind of error), with the deadline, trace context and graceful shutdown
/// the stream path has.
final class WireUnaryMethodTests: XCTestCase {
    private var logger: Logger {
        var logger = Logger(label: "wire-unary-test")
        logger.logLevel = .critical
        return logger
    }

    /// A plain error no RPC layer knows.
    struct Plain: Error {}

    /// An error that converts itself to a status, as the agent's domain errors may.
    struct Convertible: Error, RPCErrorConvertible {
        var rpcErrorCode: RPCError.Code { .failedPrecondition }
        var rpcErrorMessage: String { "sandbox not created yet" }
    }

    /// The bodies served both ways: `GRPCServer` routes "test.Stream/<name>", the direct
    /// table serves "test.Direct/<name>".
    static let bodies: [(name: String, body: @Sendable ([UInt8]) async throws -> [UInt8])] = [
        ("Echo", { $0 }),
        ("NotFound", { _ in throw RPCError(code: .notFound, message: "container 'c1' not found") }),
        ("Convertible", { _ in throw Convertible() }),
        ("Plain", { _ in throw Plain() }),
        ("Cancelled", { _ in throw CancellationError() }),
    ]

    struct StreamService: RegistrableRPCService {
        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            for (name, body) in WireUnaryMethodTests.bodies {
                router.registerHandler(
                    forMethod: MethodDescriptor(fullyQualifiedService: "test.Stream", method: name),
                    deserializer: RawCoder(), serializer: RawCoder()
                ) { request, _ in
                    let single = try await ServerRequest(stream: request)
                    return StreamingServerResponse(single: ServerResponse(message: try await body(single.message)))
                }
            }
        }
    }

    /// GRPCServer on an AgentServerTransport whose direct table is `unary` plus the bodies.
    private func startServer(
        _ unary: WireUnaryMethods = WireUnaryMethods(), box: TransportBox = TransportBox()
    ) async throws -> String {
        var methods = unary
        for (name, body) in Self.bodies {
            methods.insert(
                MethodDescriptor(fullyQualifiedService: "test.Direct", method: name),
                WireUnaryMethod(bytes: { request, _ in try await body(request) }))
        }
        let path = "/tmp/kata-unary-\(UUID().uuidString.prefix(8)).sock"
        let transport = AgentServerTransport(listener: .unix(path: path), logger: logger, unaryMethods: methods)
        box.transport = transport
        let server = GRPCServer(transport: transport, services: [StreamService()])
        let serving = Task { try await server.serve() }
        addTeardownBlock {
            server.beginGracefulShutdown()
            _ = await serving.result
            unlink(path)
        }
        _ = try await transport.listeningAddress
        return path
    }

    func testDirectMethodsAnswerAsGRPCServerAnswersTheSameBody() async throws {
        let path = try await startServer()
        let client = try RawTTRPCClient.connect(path: path)
        var id: UInt32 = 1
        for (name, _) in Self.bodies {
            let viaServer = try client.call(id, "test.Stream", name, payload: [7, 8, 9])
            let direct = try client.call(id + 2, "test.Direct", name, payload: [7, 8, 9])
            id += 4
            XCTAssertEqual(direct.status, viaServer.status, name)
            XCTAssertEqual(direct.payload, viaServer.payload, name)
        }
        let echo = try client.call(id, "test.Direct", "Echo", payload: [1, 2, 3])
        XCTAssertEqual(echo.status, .ok)
        XCTAssertEqual(echo.payload, [1, 2, 3])
        let plain = try client.call(id + 2, "test.Direct", "Plain")
        XCTAssertEqual(plain.status.code, Int32(Status.Code.unknown.rawValue))
        XCTAssertEqual(plain.status.message, "Service method threw an unknown error.")
        let convertible = try client.call(id + 4, "test.Direct", "Convertible")
        XCTAssertEqual(convertible.status.code, Int32(Status.Code.failedPrecondition.rawValue))
        XCTAssertEqual(convertible.status.message, "sandbox not created yet")
    }

    /// A direct answer leaves in the buffer it was serialized into, behind its header (large
    /// ones as a second buffer): the client gets the bytes TTRPCResponse(payload:) frames, for
    /// empty, small and large messages; one past the message limit is refused, not sent.
    func testDirectAnswersOfEverySizeArriveWhole() async throws {
        var unary = WireUnaryMethods()
        unary.insert(
            MethodDescriptor(fullyQualifiedService: "test.Direct", method: "Sized"),
            WireUnaryMethod { request, _ in
                let count = request.reduce(0) { $0 << 8 | Int($1) }
                return WirePayload((0..<count).lazy.map { UInt8(truncatingIfNeeded: $0 &* 31) })
            })
        let path = try await startServer(unary)
        let client = try RawTTRPCClient.connect(path: path)
        var id: UInt32 = 1
        for count in [0, 1, 127, 128, WireUnaryMethodTests.copiedLimit, WireUnaryMethodTests.copiedLimit + 1, 32_768, 1 << 20] {
            let request = [UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)]
            let response = try client.call(id, "test.Direct", "Sized", payload: request)
            id += 2
            XCTAssertEqual(response.status, .ok, "\(count) bytes")
            XCTAssertEqual(response.payload, (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) }, "\(count) bytes")
        }
        let tooLarge = try client.call(id, "test.Direct", "Sized", payload: [0x40, 0, 0])
        XCTAssertEqual(tooLarge.status.code, Int32(Status.Code.resourceExhausted.rawValue))
        XCTAssertTrue(tooLarge.payload.isEmpty)
        let after = try client.call(id + 2, "test.Direct", "Echo", payload: [5])
        XCTAssertEqual(after.payload, [5], "the connection serves on after a refused answer")
    }

    /// A message of one field whose contents are written as their own buffer (a ReadStdout's
    /// data) reaches the client as protobuf encodes it: tag, length, contents; nothing when empty.
    func testFieldPayloadsArriveAsProtobufEncodesThem() async throws {
        var unary = WireUnaryMethods()
        unary.insert(
            MethodDescriptor(fullyQualifiedService: "test.Direct", method: "Field"),
            WireUnaryMethod({ _, _ in WirePayload([]) }, immediate: { request in
                let count = request.reduce(0) { $0 << 8 | Int($1) }
                var contents = ByteBufferAllocator().buffer(capacity: count)
                contents.writeBytes((0..<count).lazy.map { UInt8(truncatingIfNeeded: $0 &* 29) })
                return WirePayload(field: 1, contents: contents)
            }))
        let client = try RawTTRPCClient.connect(path: try await startServer(unary))
        var id: UInt32 = 1
        for count in [0, 1, 127, 128, Self.copiedLimit - 3, Self.copiedLimit, Self.copiedLimit + 1, 32_768, 65_536] {
            let request = [UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)]
            let response = try client.call(id, "test.Direct", "Field", payload: request)
            id += 2
            var expected: [UInt8] = []
            if count > 0 {
                expected.append(0x0a)
                var length = UInt64(count)
                while length >= 0x80 {
                    expected.append(UInt8(length & 0x7f) | 0x80)
                    length >>= 7
                }
                expected.append(UInt8(length))
                expected += (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 29) }
            }
            XCTAssertEqual(response.status, .ok, "\(count) bytes")
            XCTAssertEqual(response.payload, expected, "\(count) bytes")
            // The contiguous views (a gRPC or test consumer) give the same bytes.
            var contents = ByteBufferAllocator().buffer(capacity: count)
            contents.writeBytes(expected.suffix(count))
            var payload = WirePayload(field: 1, contents: contents)
            XCTAssertEqual(payload.count, expected.count)
            XCTAssertEqual(payload.withUnsafeBytes { Array($0) }, expected)
            XCTAssertEqual(payload.withUnsafeMutableBytes { Array($0) }, expected)
            XCTAssertEqual(Array(contents.readableBytesView), expected.suffix(count), "the contents were not written through")
        }
    }

    private static let copiedLimit = TTRPCServerHandler.copiedPayloadLimit

    /// The direct method runs instead of GRPCServer's handler, and sees the call's trace context.
    func testDirectMethodIsCalledWithTheTraceContext() async throws {
        var unary = WireUnaryMethods()
        unary.insert(
            MethodDescriptor(fullyQualifiedService: "test.Stream", method: "Echo"),
            WireUnaryMethod(bytes: { _, context in
                Array("direct \(context.descriptor.method) \(WireTraceContext.traceparent ?? "none")".utf8)
            }))
        let path = try await startServer(unary)
        let client = try RawTTRPCClient.connect(path: path)
        let traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let response = try client.call(1, "test.Stream", "Echo", metadata: [TTRPCKeyValue(key: "traceparent", value: traced)])
        XCTAssertEqual(String(decoding: response.payload, as: UTF8.self), "direct Echo \(traced)")
    }

    /// At the deadline the client gets DEADLINE_EXCEEDED and the direct method is cancelled;
    /// the connection serves the next call.
    func testDeadlineCancelsADirectMethod() async throws {
        let cancelled = AsyncStream<Void>.makeStream()
        var unary = WireUnaryMethods()
        unary.insert(
            MethodDescriptor(fullyQualifiedService: "test.Direct", method: "Slow"),
            WireUnaryMethod(bytes: { _, context in
                try? await context.cancellation.cancelled
                cancelled.continuation.yield()
                return Array("late".utf8)
            }))
        let path = try await startServer(unary)
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, "test.Direct", "Slow", timeoutNano: 50_000_000)
        XCTAssertEqual(response.status.code, Int32(Status.Code.deadlineExceeded.rawValue))
        var iterator = cancelled.stream.makeAsyncIterator()
        _ = await iterator.next()
        let next = try client.call(3, "test.Direct", "Echo", payload: [4])
        XCTAssertEqual(next.payload, [4], "the late answer of stream 1 was sent")
    }

    /// A direct call that starts the transport's graceful shutdown (DestroySandbox) still gets
    /// its answer; then the connection closes.
    func testGracefulShutdownFromADirectCallSendsItsAnswerThenCloses() async throws {
        let box = TransportBox()
        var unary = WireUnaryMethods()
        unary.insert(
            MethodDescriptor(fullyQualifiedService: "grpc.AgentService", method: "DestroySandbox"),
            WireUnaryMethod(bytes: { _, _ in
                box.transport?.beginGracefulShutdown()
                return Array("bye".utf8)
            }))
        let path = try await startServer(unary, box: box)
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, "grpc.AgentService", "DestroySandbox")
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(String(decoding: response.payload, as: UTF8.self), "bye")
        XCTAssertTrue(client.closedByPeer(), "the connection stayed open after the shutdown")
    }
}
