import GRPCCore
import NIOCore
import NIOHPACK
import XCTest

@testable import AgentWire

/// The codec's pure parts: message deframing, request headers, trailers, base64.
final class GRPCHTTP2FramingTests: XCTestCase {
    private func frame(_ message: [UInt8], flag: UInt8 = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(flag)
        buffer.writeInteger(UInt32(message.count))
        buffer.writeBytes(message)
        return buffer
    }

    func testDeframerJoinsMessagesSplitAcrossDataFrames() {
        var deframer = GRPCHTTP2MessageDeframer(maxMessageSize: 100)
        var bytes = self.frame([1, 2, 3])
        bytes.writeImmutableBuffer(self.frame([]))
        bytes.writeImmutableBuffer(self.frame([4, 5]))
        // Feed one byte at a time: every split point is a DATA frame boundary the client may choose.
        var messages: [[UInt8]] = []
        while let byte = bytes.readInteger(as: UInt8.self) {
            var piece = ByteBuffer()
            piece.writeInteger(byte)
            deframer.append(piece)
            loop: while true {
                switch deframer.next() {
                case .message(let message): messages.append(message)
                case .needMoreData: break loop
                case .error(let code, let message): return XCTFail("\(code): \(message)")
                }
            }
        }
        XCTAssertEqual(messages, [[1, 2, 3], [], [4, 5]])
        XCTAssertEqual(deframer.bufferedBytes, 0)
    }

    func testDeframerRejectsAnOversizedLengthBeforeBufferingIt() {
        var deframer = GRPCHTTP2MessageDeframer(maxMessageSize: 16)
        var prefix = ByteBuffer()
        prefix.writeInteger(UInt8(0))
        prefix.writeInteger(UInt32.max)
        deframer.append(prefix)
        guard case .error(let code, let message) = deframer.next() else { return XCTFail("accepted a 4 GiB length") }
        XCTAssertEqual(code, .resourceExhausted)
        XCTAssertTrue(message.contains("\(UInt32.max)"), message)
        var exact = GRPCHTTP2MessageDeframer(maxMessageSize: 16)
        exact.append(self.frame([UInt8](repeating: 0, count: 16)))
        XCTAssertEqual(exact.next(), .message([UInt8](repeating: 0, count: 16)))
    }

    func testDeframerRejectsCompressedAndUnknownFlags() {
        var compressed = GRPCHTTP2MessageDeframer(maxMessageSize: 16)
        compressed.append(self.frame([1], flag: 1))
        guard case .error(let code, _) = compressed.next() else { return XCTFail("accepted a compressed message") }
        XCTAssertEqual(code, .internalError)
        var unknown = GRPCHTTP2MessageDeframer(maxMessageSize: 16)
        unknown.append(self.frame([1], flag: 2))
        guard case .error = unknown.next() else { return XCTFail("accepted compression flag 2") }
    }

    private func requestHeaders(path: String = "/grpc.Health/Check", extra: [(String, String)] = []) -> HPACKHeaders {
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": "localhost",
            "content-type": "application/grpc", "te": "trailers",
        ]
        for (name, value) in extra { headers.add(name: name, value: value) }
        return headers
    }

    func testRequestHeadersGiveMethodAndMetadataWithTimeout() throws {
        let headers = self.requestHeaders(extra: [("grpc-timeout", "5S"), ("x-trace-bin", "AAEC"), ("x-id", "a")])
        let (method, metadata) = try GRPCHTTP2Headers.request(headers).get()
        XCTAssertEqual(method, MethodDescriptor(fullyQualifiedService: "grpc.Health", method: "Check"))
        XCTAssertEqual(Array(metadata[stringValues: "grpc-timeout"]), ["5S"])
        XCTAssertEqual(Array(metadata[binaryValues: "x-trace-bin"]), [[0, 1, 2]])
        XCTAssertEqual(Array(metadata[stringValues: "x-id"]), ["a"])
        XCTAssertTrue(Array(metadata[stringValues: ":path"]).isEmpty)
    }

    func testRequestHeadersRejections() {
        func rejection(_ headers: HPACKHeaders) -> GRPCHTTP2Headers.Rejection? {
            if case .failure(let rejection) = GRPCHTTP2Headers.request(headers) { return rejection }
            return nil
        }
        var get = self.requestHeaders()
        get.replaceOrAdd(name: ":method", value: "GET")
        XCTAssertEqual(rejection(get)?.httpStatus, "405")
        var json = self.requestHeaders()
        json.replaceOrAdd(name: "content-type", value: "application/json")
        XCTAssertEqual(rejection(json)?.httpStatus, "415")
        var proto = self.requestHeaders()
        proto.replaceOrAdd(name: "content-type", value: "application/grpc+proto")
        XCTAssertNil(rejection(proto))
        XCTAssertEqual(rejection(self.requestHeaders(extra: [("grpc-encoding", "gzip")]))?.code, .unimplemented)
        XCTAssertNil(rejection(self.requestHeaders(extra: [("grpc-encoding", "identity")])))
        for path in ["", "/", "//m", "/svc/", "svc/m", "/svc"] {
            XCTAssertEqual(rejection(self.requestHeaders(path: path))?.code, .unimplemented, path)
        }
        XCTAssertEqual(rejection(self.requestHeaders(extra: [("x-bin", "!!")]))?.code, .invalidArgument)
    }

    func testTrailersPercentEncodeTheMessage() {
        let trailers = GRPCHTTP2Headers.trailers(
            code: .notFound, message: "caf\u{e9} 100%\n", metadata: ["x-a": "b"], trailersOnly: true)
        XCTAssertEqual(trailers.first(name: ":status"), "200")
        XCTAssertEqual(trailers.first(name: "content-type"), "application/grpc")
        XCTAssertEqual(trailers.first(name: "grpc-status"), "5")
        XCTAssertEqual(trailers.first(name: "grpc-message"), "caf%C3%A9 100%25%0A")
        XCTAssertEqual(trailers.first(name: "x-a"), "b")
        let plain = GRPCHTTP2Headers.trailers(code: .ok, message: "", metadata: [:], trailersOnly: false)
        XCTAssertNil(plain.first(name: ":status"))
        XCTAssertNil(plain.first(name: "grpc-message"))
        XCTAssertEqual(plain.first(name: "grpc-status"), "0")
    }

    func testBase64RoundTripsPaddedAndUnpadded() {
        for length in 0..<10 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 200) }
            let encoded = GRPCHTTP2Base64.encode(bytes)
            XCTAssertEqual(GRPCHTTP2Base64.decode(encoded), bytes)
            XCTAssertEqual(GRPCHTTP2Base64.decode(String(encoded.filter { $0 != "=" })), bytes)
        }
        XCTAssertEqual(GRPCHTTP2Base64.encode(Array("foobar".utf8)), "Zm9vYmFy")
        XCTAssertNil(GRPCHTTP2Base64.decode("A"))
        XCTAssertNil(GRPCHTTP2Base64.decode("AB=C"))
        XCTAssertNil(GRPCHTTP2Base64.decode("A\u{e9}"))
    }
}
