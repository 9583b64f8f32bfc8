import AgentConfig
import AgentWire
import AgentWireClient
import Foundation
import GRPCCore
import KataProtocols
import Logging
import SwiftProtobuf
import TTRPCWire
import XCTest

@testable import AgentServer
@testable import Sandbox

/// The agent served over ttrpc on a unix socket (in-process), driven by a raw ttrpc client
/// (RawTTRPCClient: a socket and AgentWire's frame codec), checked against what containerd/ttrpc's
/// Go server does and against the answers the same requests get over gRPC on the same listener.
final class TTRPCServerTests: XCTestCase {
    private var logger: Logger {
        var logger = Logger(label: "ttrpc-server-test")
        logger.logLevel = .critical
        return logger
    }

    private static let health = "grpc.Health"
    private static let agent = "grpc.AgentService"

    /// Starts the agent on a unix socket and returns the socket's path once Check answers.
    private func startAgent() async throws -> String {
        let directory = try makeTemporaryDirectory(for: self, "ttrpc")
        let path = directory + "/agent.sock"
        let options = AgentServer.Options(address: .unix(path: path), agentVersion: "ttrpc-test")
        let server = Task { [logger] in
            try await AgentServer.run(options: options, sandbox: SandboxState(environment: .live(logger: logger)), logger: logger)
        }
        addTeardownBlock {
            server.cancel()
            _ = await server.result
        }
        let client = try RawTTRPCClient.connect(path: path)
        let check = try client.call(1, Self.health, "Check")
        XCTAssertEqual(check.status, .ok)
        return path
    }

    func testCheckAndVersionAnswerOverTTRPC() async throws {
        let path = try await startAgent()
        let client = try RawTTRPCClient.connect(path: path)
        let check = try client.call(1, Self.health, "Check", payload: try Grpc_CheckRequest().serializedBytes())
        XCTAssertEqual(check.status, .ok)
        XCTAssertEqual(try Grpc_HealthCheckResponse(serializedBytes: check.payload).status, .serving)
        let version = try client.call(3, Self.health, "Version")
        XCTAssertEqual(version.status, .ok)
        let reply = try Grpc_VersionCheckResponse(serializedBytes: version.payload)
        XCTAssertEqual(reply.agentVersion, "ttrpc-test")
        XCTAssertEqual(reply.grpcVersion, "0.0.1")
        // The standard gRPC health service is served too.
        let standard = try client.call(5, "grpc.health.v1.Health", "Check")
        XCTAssertEqual(standard.status, .ok)
    }

    /// The same requests over ttrpc and over gRPC (grpc-swift's client, same listener) get the
    /// same status code and message: a validation error, an undecodable payload, an unknown
    /// method and an unknown service; also for the methods ttrpc answers on its immediate path
    /// (reads, health), whose errors come from the same mapping without the call's task.
    func testErrorsAreTheSameAsOverGRPC() async throws {
        let path = try await startAgent()
        var badSignal = Grpc_SignalProcessRequest()
        badSignal.containerID = "../escape"
        badSignal.signal = 9
        var badRead = Grpc_ReadStreamRequest()
        badRead.containerID = "../escape"
        badRead.len = 32768
        var missingRead = Grpc_ReadStreamRequest()
        missingRead.containerID = "nosuch"
        missingRead.len = 32768
        var unknownHealth = Grpc_Health_V1_HealthCheckRequest()
        unknownHealth.service = "grpc.Nope"
        let cases: [(service: String, method: String, payload: [UInt8], expected: Status.Code)] = [
            (Self.agent, "SignalProcess", try badSignal.serializedBytes(), .invalidArgument),
            (Self.agent, "StartContainer", [0xff, 0xff], .invalidArgument),
            (Self.agent, "NoSuchMethod", [], .unimplemented),
            ("grpc.NoSuchService", "Check", [], .unimplemented),
            (Self.agent, "ReadStdout", try badRead.serializedBytes(), .invalidArgument),
            (Self.agent, "ReadStdout", [0xff, 0xff], .invalidArgument),
            (Self.agent, "ReadStderr", try missingRead.serializedBytes(), .notFound),
            ("grpc.health.v1.Health", "Check", try unknownHealth.serializedBytes(), .notFound),
        ]
        let client = try RawTTRPCClient.connect(path: path)
        try await GRPCTestClient.with(unixPath: path) { grpc in
            for (index, entry) in cases.enumerated() {
                let ttrpc = try client.call(UInt32(2 * index + 1), entry.service, entry.method, payload: entry.payload)
                XCTAssertEqual(ttrpc.status.code, Int32(entry.expected.rawValue), "\(entry.method): \(ttrpc.status)")
                let viaGRPC = try await Self.grpcStatus(grpc, entry.service, entry.method, entry.payload)
                XCTAssertEqual(Int(ttrpc.status.code), viaGRPC.code, "\(entry.service)/\(entry.method)")
                XCTAssertEqual(ttrpc.status.message, viaGRPC.message, "\(entry.service)/\(entry.method)")
            }
        }
        let unknown = try client.call(101, Self.agent, "NoSuchMethod")
        XCTAssertEqual(unknown.status.message, "method NoSuchMethod")
        let unknownService = try client.call(103, "grpc.NoSuchService", "Check")
        XCTAssertEqual(unknownService.status.message, "service grpc.NoSuchService")
    }

    /// 100 calls in flight on one connection, the first a GetOOMEvent long poll that only ends
    /// at its deadline: every call is answered once, and the long poll after the others.
    func testHundredConcurrentCallsAreAnsweredAsEachFinishes() async throws {
        let path = try await startAgent()
        let client = try RawTTRPCClient.connect(path: path)
        client.request(1, Self.agent, "GetOOMEvent", timeoutNano: 2_000_000_000)
        var bytes: [UInt8] = []
        for index in 1..<100 {
            let request = TTRPCRequest(service: Self.health, method: index % 2 == 0 ? "Check" : "Version", payload: [])
            bytes += TTRPCFrame.request(request, streamID: UInt32(2 * index + 1)).encoded()
        }
        client.send(bytes)
        var order: [UInt32] = []
        for _ in 0..<100 {
            let (id, response) = try client.response()
            order.append(id)
            if id == 1 {
                XCTAssertEqual(response.status.code, Int32(Status.Code.deadlineExceeded.rawValue), "\(response.status)")
            } else {
                XCTAssertEqual(response.status, .ok, "stream \(id)")
            }
        }
        XCTAssertEqual(Set(order), Set((0..<100).map { UInt32(2 * $0 + 1) }))
        XCTAssertEqual(order.last, 1, "the long poll was answered before calls sent after it")
    }

    func testDeadlineEndsAGetOOMEventLongPollWithDeadlineExceeded() async throws {
        let path = try await startAgent()
        let client = try RawTTRPCClient.connect(path: path)
        let response = try client.call(1, Self.agent, "GetOOMEvent", timeoutNano: 300_000_000)
        XCTAssertEqual(response.status.code, Int32(Status.Code.deadlineExceeded.rawValue), "\(response.status)")
        XCTAssertEqual(try client.call(3, Self.health, "Check").status, .ok)
    }

    func testOversizedMessageIsRefusedAndTheConnectionKeepsWorking() async throws {
        let path = try await startAgent()
        let client = try RawTTRPCClient.connect(path: path)
        let length = TTRPC.maxMessageSize + 1
        client.send(TTRPCFrameHeader(length: UInt32(length), streamID: 1, type: TTRPC.requestType).encodedBytes())
        client.send([UInt8](repeating: 0x0a, count: length))
        let (id, refused) = try client.response()
        XCTAssertEqual(id, 1)
        XCTAssertEqual(refused.status.code, Int32(Status.Code.resourceExhausted.rawValue), "\(refused.status)")
        XCTAssertTrue(refused.status.message.contains("\(length)"), refused.status.message)
        XCTAssertEqual(try client.call(3, Self.health, "Check").status, .ok)
    }

    func testEvenStreamIDIsAnsweredInvalidArgument() async throws {
        let path = try await startAgent()
        let client = try RawTTRPCClient.connect(path: path)
        let even = try client.call(2, Self.health, "Check")
        XCTAssertEqual(even.status.code, Int32(Status.Code.invalidArgument.rawValue))
        XCTAssertEqual(even.status.message, "StreamID must be odd for client initiated streams")
        XCTAssertEqual(try client.call(3, Self.health, "Check").status, .ok)
        // A reused id, and data for a stream not in flight, as Go answers them.
        let reused = try client.call(3, Self.health, "Check")
        XCTAssertEqual(reused.status.message, "StreamID cannot be re-used and must increment")
        client.send(TTRPCFrame(streamID: 11, type: TTRPC.dataType, payload: [1]))
        let (id, data) = try client.response()
        XCTAssertEqual(id, 11)
        XCTAssertEqual(data.status.message, "StreamID is no longer active")
        // An undecodable Request envelope.
        client.send(TTRPCFrame(streamID: 13, type: TTRPC.requestType, payload: [0x0a, 9]))
        let (badID, bad) = try client.response()
        XCTAssertEqual(badID, 13)
        XCTAssertEqual(bad.status.code, Int32(Status.Code.invalidArgument.rawValue))
        XCTAssertTrue(bad.status.message.hasPrefix("unmarshal request error: Request.service"), bad.status.message)
    }

    func testUnknownFrameTypeIsSkipped() async throws {
        let path = try await startAgent()
        let client = try RawTTRPCClient.connect(path: path)
        client.send(TTRPCFrame(streamID: 1, type: 9, flags: 0xff, payload: [1, 2, 3]))
        client.send(TTRPCFrame(streamID: 1, type: TTRPC.responseType, payload: []))
        let (id, response) = try { () throws -> (UInt32, TTRPCResponse) in
            client.request(3, Self.health, "Check")
            return try client.response()
        }()
        XCTAssertEqual(id, 3, "a frame of unknown type was answered")
        XCTAssertEqual(response.status, .ok)
    }

    /// Garbage, a half frame then EOF, and a first byte of neither protocol each end only their
    /// own connection; a connection opened before keeps working.
    func testUnframeableBytesEndOnlyThatConnection() async throws {
        let path = try await startAgent()
        let survivor = try RawTTRPCClient.connect(path: path)
        XCTAssertEqual(try survivor.call(1, Self.health, "Check").status, .ok)

        let garbage = try RawTTRPCClient.connect(path: path)
        XCTAssertEqual(try garbage.call(1, Self.health, "Check").status, .ok)
        garbage.send(Array("\u{7f}ELF garbage that is no frame".utf8))
        XCTAssertTrue(garbage.closedByPeer(), "the agent kept a connection that lost its framing")

        let half = try RawTTRPCClient.connect(path: path)
        half.send([0, 0, 0, 20, 0, 0, 0, 1, 1, 0, 0x0a])
        shutdown(half.fd, Int32(SHUT_WR))
        XCTAssertTrue(half.closedByPeer(), "the agent kept a connection that ended mid-frame")

        let http1 = try RawTTRPCClient.connect(path: path)
        http1.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        XCTAssertTrue(http1.closedByPeer(), "the agent kept a connection of neither protocol")

        XCTAssertEqual(try survivor.call(3, Self.health, "Check").status, .ok)
        let fresh = try RawTTRPCClient.connect(path: path)
        XCTAssertEqual(try fresh.call(1, Self.health, "Check").status, .ok)
    }

    /// The status grpc-swift's client gets for raw request bytes.
    private static func grpcStatus(
        _ client: GRPCClient<GRPCPlaintextClientTransport>, _ service: String, _ method: String, _ payload: [UInt8]
    ) async throws -> (code: Int, message: String) {
        do {
            _ = try await client.unary(
                request: ClientRequest(message: payload),
                descriptor: MethodDescriptor(fullyQualifiedService: service, method: method),
                serializer: RawBytesCoder(), deserializer: RawBytesCoder(), options: AgentProcess.callOptions(seconds: 30)
            ) { response in try response.message }
            return (0, "")
        } catch let error as RPCError {
            return (Status.Code(error.code).rawValue, error.message)
        }
    }
}

/// Passes message bytes through unchanged, to send exactly the bytes a ttrpc test sends.
struct RawBytesCoder: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] {
        bytes.withUnsafeBytes { Array($0) }
    }
}

extension TTRPCFrameHeader {
    func encodedBytes() -> [UInt8] {
        var bytes: [UInt8] = []
        encode(into: &bytes)
        return bytes
    }
}
