import AgentWireClient
import Foundation
import GRPCCore
import XCTest

@testable import AgentWire

/// GRPCHTTP2Codec under GRPCCore's server, called by AgentWireClient's transport under GRPCCore's
/// client, and by grpcio (an independent implementation).
final class GRPCHTTP2CodecTests: XCTestCase {
    private static func options(timeout: Duration = .seconds(30)) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        return options
    }

    private static func call(
        _ client: GRPCClient<GRPCPlaintextClientTransport>, _ method: MethodDescriptor, _ message: [UInt8],
        metadata: Metadata = [:], timeout: Duration = .seconds(30)
    ) async throws -> ClientResponse<[UInt8]> {
        try await client.unary(
            request: ClientRequest(message: message, metadata: metadata), descriptor: method,
            serializer: RawCoder(), deserializer: RawCoder(), options: options(timeout: timeout)
        ) { $0 }
    }

    func testUnaryEchoesMessageAndMetadata() async throws {
        try await withCodecServer { client, _, _ in
            var metadata = Metadata()
            metadata.addString("v1", forKey: "x-echo")
            metadata.addBinary([0, 1, 2, 254, 255], forKey: "x-echo-bin")
            let response = try await Self.call(client, CodecTestService.unary, Array("hello".utf8), metadata: metadata)
            XCTAssertEqual(try response.message, Array("hello".utf8))
            XCTAssertEqual(Array(response.trailingMetadata[stringValues: "x-echo"]), ["v1"])
            XCTAssertEqual(Array(response.trailingMetadata[binaryValues: "x-echo-bin"]), [[0, 1, 2, 254, 255]])
            // An empty message is a valid message (a 5-byte prefix of length 0).
            let empty = try await Self.call(client, CodecTestService.unary, [])
            XCTAssertEqual(try empty.message, [])
        }
    }

    func testErrorStatusKeepsItsMessage() async throws {
        try await withCodecServer { client, _, _ in
            do {
                _ = try await Self.call(client, CodecTestService.fail, []).message
                XCTFail("Fail answered OK")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .notFound)
                XCTAssertEqual(error.message, CodecTestService.failMessage)
            }
        }
    }

    func testUnknownMethodIsUnimplemented() async throws {
        try await withCodecServer { client, _, _ in
            let missing = MethodDescriptor(fullyQualifiedService: "test.Nope", method: "Missing")
            do {
                _ = try await Self.call(client, missing, []).message
                XCTFail("an unknown method answered OK")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .unimplemented)
            }
        }
    }

    func testDeadlineExceededCancelsTheHandler() async throws {
        let probe = HandlerProbe()
        try await withCodecServer(probe: probe) { client, _, _ in
            do {
                _ = try await Self.call(client, CodecTestService.waitForCancel, [], timeout: .milliseconds(300)).message
                XCTFail("a call past its deadline answered OK")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .deadlineExceeded)
            }
            let started = try await probe.next()
            XCTAssertEqual(started, "started")
            let ended = try await probe.next()
            XCTAssertEqual(ended, "cancelled")
        }
    }

    func testOversizedRequestIsResourceExhaustedAndConnectionKeepsWorking() async throws {
        try await withCodecServer(limits: WireLimits(maxMessageSize: 1024)) { client, _, _ in
            do {
                _ = try await Self.call(client, CodecTestService.unary, [UInt8](repeating: 7, count: 4096)).message
                XCTFail("an oversized request answered OK")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .resourceExhausted)
                XCTAssertTrue(error.message.contains("4096"), error.message)
            }
            let exact = [UInt8](repeating: 1, count: 1024)
            let reply = try await Self.call(client, CodecTestService.unary, exact)
            XCTAssertEqual(try reply.message, exact)
        }
    }

    func testClientCancellationReachesTheHandler() async throws {
        let probe = HandlerProbe()
        try await withCodecServer(probe: probe) { client, _, _ in
            let call = Task {
                try await Self.call(client, CodecTestService.waitForCancel, []).message
            }
            let started = try await probe.next()
            XCTAssertEqual(started, "started")
            call.cancel()
            let ended = try await probe.next()
            XCTAssertEqual(ended, "cancelled")
            let result = await call.result
            XCTAssertThrowsError(try result.get())
            // The connection still serves.
            let after = try await Self.call(client, CodecTestService.unary, [9])
            XCTAssertEqual(try after.message, [9])
        }
    }

    func testHundredConcurrentStreamsOnOneConnection() async throws {
        // The barrier releases only when 100 handlers run at once: a codec serving streams one
        // after another would hang here until the call deadline.
        try await withCodecServer(barrier: Barrier(target: 100)) { client, _, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<100 {
                    group.addTask {
                        let message = Array("call \(index)".utf8)
                        let reply = try await Self.call(client, CodecTestService.barrier, message).message
                        XCTAssertEqual(reply, message)
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    func testGracefulShutdownLetsInFlightCallsFinish() async throws {
        let probe = HandlerProbe()
        let gate = Barrier(target: 2)
        try await withCodecServer(probe: probe, gate: gate) { client, _, beginGracefulShutdown in
            let call = Task { try await Self.call(client, CodecTestService.gate, [42]).message }
            let waiting = try await probe.next()
            XCTAssertEqual(waiting, "gate-waiting")
            // GOAWAY goes out while the call runs; the call must still complete with its reply.
            beginGracefulShutdown()
            await gate.arriveAndWait()
            let reply = try await call.value
            XCTAssertEqual(reply, [42])
        }
    }

    /// A connection error (here RST_STREAM on a stream the client never opened) is answered with
    /// GOAWAY and then the connection closes, as RFC 9113 section 5.4.1 requires. It used to stay
    /// open after the GOAWAY, and a client's calls without a deadline waited forever.
    func testConnectionErrorClosesTheConnection() async throws {
        try await withCodecServer { _, path, _ in
            let client = try RawTTRPCClient.connect(path: path)
            var bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
            bytes += [0, 0, 0, 0x4, 0, 0, 0, 0, 0]                       // SETTINGS, empty
            bytes += [0, 0, 4, 0x3, 0, 0, 0, 0, 99, 0, 0, 0, 8]          // RST_STREAM(CANCEL) on idle stream 99
            client.send(bytes)
            XCTAssertTrue(client.closedByPeer(seconds: 20), "the connection stayed open after a connection error")
        }
    }

    func testGrpcioInterop() async throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python), Self.run(python, ["-c", "import grpc"]).status == 0
        else {
            throw XCTSkip("python3 with grpcio (Debian python3-grpcio, in `make deps`) is needed for the grpcio interop test")
        }
        let script = """
            import sys, grpc
            ch = grpc.insecure_channel('unix:' + sys.argv[1])
            echo = ch.unary_unary('/test.Echo/Unary')
            reply, call = echo.with_call(b'hello', timeout=30, metadata=[('x-echo', 'v1')])
            print('unary', reply.decode(), dict(call.trailing_metadata()).get('x-echo'))
            try:
                ch.unary_unary('/test.Echo/Fail')(b'', timeout=30)
            except grpc.RpcError as e:
                print('fail', e.code().name, e.details().replace('\\n', '|'))
            try:
                ch.unary_unary('/test.Echo/WaitForCancel')(b'', timeout=0.3)
            except grpc.RpcError as e:
                print('deadline', e.code().name)
            try:
                echo(b'x' * 4096, timeout=30)
            except grpc.RpcError as e:
                print('oversized', e.code().name)
            try:
                ch.unary_unary('/test.Nope/Missing')(b'', timeout=30)
            except grpc.RpcError as e:
                print('missing', e.code().name)
            print('after', echo(b'again', timeout=30).decode())
            """
        try await withCodecServer { _, path, _ in
            // Off the cooperative pool: the server's handlers need its threads while grpcio calls.
            let result = await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(returning: Self.run("/usr/bin/timeout", ["60", python, "-c", script, path]))
                }
            }
            XCTAssertEqual(result.status, 0, result.output)
            let expected = [
                "unary hello v1",
                "fail NOT_FOUND " + CodecTestService.failMessage.replacingOccurrences(of: "\n", with: "|"),
                "deadline DEADLINE_EXCEEDED",
                "oversized RESOURCE_EXHAUSTED",
                "missing UNIMPLEMENTED",
                "after again",
            ]
            XCTAssertEqual(result.output.split(separator: "\n").map(String.init), expected, result.output)
        }
    }

    /// Runs a short helper to completion, output and error merged.
    private static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONIOENCODING"] = "utf-8"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            return (-1, "cannot run \(executable): \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
