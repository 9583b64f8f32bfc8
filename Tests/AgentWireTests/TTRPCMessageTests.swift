@testable import TTRPCWire
import XCTest

@testable import AgentWire

/// The hand-written ttrpc envelope codec: exact bytes as containerd/ttrpc's Go code writes
/// them, round trips, and every malformed input rejected with the field named, never a trap.
final class TTRPCMessageTests: XCTestCase {
    func testRequestEncodesAsGoProtobufDoes() {
        let request = TTRPCRequest(
            service: "a", method: "b", payload: [1], timeoutNano: 5, metadata: [TTRPCKeyValue(key: "k", value: "v")])
        XCTAssertEqual(
            request.encoded(),
            [0x0a, 1, 0x61, 0x12, 1, 0x62, 0x1a, 1, 1, 0x20, 5, 0x2a, 6, 0x0a, 1, 0x6b, 0x12, 1, 0x76])
        XCTAssertEqual(request.encodedSize, request.encoded().count)
    }

    func testDefaultsAreOmittedAndAnOKResponseStillCarriesItsStatus() {
        XCTAssertEqual(TTRPCRequest(service: "", method: "", payload: []).encoded(), [])
        // Go's server always sets Response.status, so an OK answer is `0a 00`.
        XCTAssertEqual(TTRPCResponse().encoded(), [0x0a, 0x00])
        XCTAssertEqual(TTRPCResponse(payload: [8, 1]).encoded(), [0x0a, 0x00, 0x12, 2, 8, 1])
    }

    func testRoundTrips() throws {
        let request = TTRPCRequest(
            service: "grpc.AgentService", method: "CreateContainer", payload: Array(repeating: 0xab, count: 300),
            timeoutNano: -1, metadata: [TTRPCKeyValue(key: "traceparent", value: "00-abc-def-01"), TTRPCKeyValue(key: "x", value: "")])
        XCTAssertEqual(try TTRPCRequest(decoding: request.encoded()), request)
        let status = TTRPCStatus(
            code: 5, message: "container ab not found ✓", details: [TTRPCAny(typeURL: "type.googleapis.com/x", value: [1, 2])])
        let response = TTRPCResponse(status: status, payload: [9, 9, 9])
        XCTAssertEqual(try TTRPCResponse(decoding: response.encoded()), response)
        // A negative status code is a 10-byte varint on the wire and comes back intact.
        let negative = TTRPCResponse(status: TTRPCStatus(code: -3))
        XCTAssertEqual(try TTRPCResponse(decoding: negative.encoded()), negative)
    }

    func testUnknownFieldsOfEveryWireTypeAreSkipped() throws {
        var bytes = TTRPCRequest(service: "s", method: "m", payload: [7]).encoded()
        bytes += [0x30, 0x96, 0x01]  // field 6 varint
        bytes += [0x39] + [UInt8](repeating: 1, count: 8)  // field 7 fixed64
        bytes += [0x45, 1, 2, 3, 4]  // field 8 fixed32
        bytes += [0x4a, 2, 0xff, 0xff]  // field 9 bytes
        XCTAssertEqual(try TTRPCRequest(decoding: bytes), TTRPCRequest(service: "s", method: "m", payload: [7]))
    }

    func testMalformedInputNamesTheField() {
        let cases: [(String, [UInt8], String)] = [
            ("truncated varint", [0x20, 0x80], "Request.timeout_nano"),
            ("varint past 10 bytes", [0x20] + [UInt8](repeating: 0xff, count: 9) + [0x02], "Request.timeout_nano"),
            ("length past the end", [0x0a, 5, 0x61], "Request.service"),
            ("huge length", [0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f], "Request.payload"),
            ("invalid UTF-8", [0x12, 2, 0xc3, 0x28], "Request.method"),
            ("wrong wire type", [0x08, 1], "Request.service"),
            ("wire type 6", [0x0e], "Request.field 1"),
            ("group", [0x33], "Request.field 6"),
            ("field number 0", [0x02, 0], "Request.tag"),
            ("bad metadata entry", [0x2a, 2, 0x0a, 9], "KeyValue.key"),
            ("truncated tag", [0x80], "Request.tag"),
            ("truncated fixed64", [0x39, 1, 2], "Request.field 7"),
        ]
        for (name, bytes, field) in cases {
            XCTAssertThrowsError(try TTRPCRequest(decoding: bytes), name) { error in
                XCTAssertEqual((error as? ProtoDecodingError)?.field, field, "\(name): \(error)")
            }
        }
        XCTAssertThrowsError(try TTRPCResponse(decoding: [0x0a, 2, 0x08, 0x80])) { error in
            XCTAssertEqual((error as? ProtoDecodingError)?.field, "Status.code", "\(error)")
        }
        XCTAssertThrowsError(try TTRPCResponse(decoding: [0x0a, 4, 0x1a, 2, 0x0a, 5])) { error in
            XCTAssertEqual((error as? ProtoDecodingError)?.field, "Any.type_url", "\(error)")
        }
    }

    /// What the server writes before a direct answer's payload is TTRPCResponse(payload:)'s prefix.
    func testOKPrefixMatchesTheEncodedResponse() {
        for count in [0, 1, 127, 128, 16_383, 16_384, 32_768, 5 << 20] {
            let full = TTRPCResponse(payload: [UInt8](repeating: 0xab, count: count)).encoded()
            var prefix: [UInt8] = []
            TTRPCResponse.encodeOKPrefix(payload: count, into: &prefix)
            XCTAssertEqual(TTRPCResponse.okSize(payload: count), full.count, "\(count)")
            XCTAssertEqual(prefix, Array(full.prefix(full.count - count)), "\(count)")
        }
    }

    /// Strings take an ASCII fast path; anything else is still validated, not repaired.
    func testStringsOutsideASCIIAreValidatedAndKept() throws {
        let request = TTRPCRequest(service: "grpc.AgentService", method: "Ünïcode ✓ 𝄞", payload: [])
        XCTAssertEqual(try TTRPCRequest(decoding: request.encoded()).method, "Ünïcode ✓ 𝄞")
        for bad: [UInt8] in [[0x61, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x61, 0xe2, 0x82]] {
            let bytes: [UInt8] = [0x12, UInt8(bad.count)] + bad
            XCTAssertThrowsError(try TTRPCRequest(decoding: bytes), "\(bad)") { error in
                XCTAssertEqual((error as? ProtoDecodingError)?.field, "Request.method", "\(error)")
            }
        }
    }

    /// Random and mutated bytes: decoding either succeeds or throws, never traps.
    func testRandomBytesNeverTrap() {
        var generator = SplitMix64(seed: 0x5eed)
        let valid = TTRPCRequest(
            service: "grpc.Health", method: "Check", payload: [1, 2, 3], timeoutNano: 99,
            metadata: [TTRPCKeyValue(key: "a", value: "b")]).encoded()
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            } else {
                bytes = valid
                for _ in 0..<(1 + Int(generator.next() % 4)) {
                    bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                }
                bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count + 1))))
            }
            _ = try? TTRPCRequest(decoding: bytes)
            _ = try? TTRPCResponse(decoding: bytes)
            var reader = TTRPCFrameReader()
            _ = try? reader.feed(bytes)
        }
    }
}

/// A small deterministic generator, so a failing fuzz round is reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
