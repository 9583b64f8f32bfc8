import NIOCore
@testable import TTRPCWire
import XCTest

@testable import AgentWire

/// ttrpc framing: the 10-byte header, frames split across reads at every boundary, oversized
/// frames skipped as they arrive, and a stream that cannot be framed reported, never a trap.
final class TTRPCFrameTests: XCTestCase {
    func testHeaderIsBigEndianLengthStreamTypeFlags() {
        let frame = TTRPCFrame(streamID: 0x0102_0304, type: TTRPC.requestType, flags: 0x05, payload: [0xaa, 0xbb])
        XCTAssertEqual(frame.encoded(), [0, 0, 0, 2, 1, 2, 3, 4, 1, 5, 0xaa, 0xbb])
        let header = [UInt8]([0, 0x40, 0, 0, 0, 0, 0, 7, 3, 4]).withUnsafeBytes { TTRPCFrameHeader(parsing: $0) }
        XCTAssertEqual(header, TTRPCFrameHeader(length: 4 << 20, streamID: 7, type: 3, flags: 4))
        XCTAssertNil([UInt8](repeating: 0, count: 9).withUnsafeBytes { TTRPCFrameHeader(parsing: $0) })
        // The server writes headers straight into its ByteBuffer: the same ten bytes.
        var buffer = ByteBuffer()
        TTRPCFrameHeader(length: 0x0a0b_0c0d, streamID: 0x0102_0304, type: TTRPC.responseType, flags: 0x06).encode(into: &buffer)
        XCTAssertEqual(buffer.readBytes(length: buffer.readableBytes), [0x0a, 0x0b, 0x0c, 0x0d, 1, 2, 3, 4, 2, 6])
    }

    func testFramesSplitAtEveryByteComeOutWhole() throws {
        let frames = [
            TTRPCFrame.request(TTRPCRequest(service: "grpc.Health", method: "Check", payload: []), streamID: 1),
            TTRPCFrame(streamID: 3, type: TTRPC.dataType, payload: []),
            TTRPCFrame.response(TTRPCResponse(payload: Array(repeating: 7, count: 1000)), streamID: 5),
        ]
        let stream = frames.flatMap { $0.encoded() }
        for chunk in [1, 2, 9, 10, 11, 100, stream.count] {
            var reader = TTRPCFrameReader()
            var got: [TTRPCFrameReader.Item] = []
            var start = 0
            while start < stream.count {
                let end = min(stream.count, start + chunk)
                got += try reader.feed(Array(stream[start..<end]))
                start = end
            }
            XCTAssertEqual(got, frames.map { .frame($0) }, "chunk \(chunk)")
            XCTAssertEqual(reader.pendingByteCount, 0)
        }
    }

    func testAnOversizedFrameIsSkippedAndTheNextOneStillArrives() throws {
        var reader = TTRPCFrameReader(maxMessageSize: 16)
        let big = TTRPCFrame(streamID: 1, type: TTRPC.requestType, payload: Array(repeating: 1, count: 40))
        let next = TTRPCFrame(streamID: 3, type: TTRPC.requestType, payload: [2])
        let bytes = big.encoded() + next.encoded()
        var items = try reader.feed(Array(bytes[0..<15]))
        XCTAssertEqual(items, [.oversized(TTRPCFrameHeader(length: 40, streamID: 1, type: 1))])
        XCTAssertEqual(reader.pendingByteCount, 35)
        items = try reader.feed(Array(bytes[15...]))
        XCTAssertEqual(items, [.frame(next)])
    }

    func testAHalfFrameIsPendingBytes() throws {
        var reader = TTRPCFrameReader()
        let bytes = TTRPCFrame(streamID: 1, type: 1, payload: [1, 2, 3]).encoded()
        XCTAssertEqual(try reader.feed(Array(bytes.prefix(11))), [])
        XCTAssertEqual(reader.pendingByteCount, 11)
    }

    func testAHeaderAnnouncing16MiBOrMoreIsUnframeable() {
        var reader = TTRPCFrameReader()
        let garbage = Array("GET / HTTP/1.1\r\n".utf8)
        XCTAssertThrowsError(try reader.feed(garbage)) { error in
            XCTAssertTrue("\(error)".contains("not a ttrpc stream"), "\(error)")
        }
        var edge = TTRPCFrameReader()
        XCTAssertThrowsError(try edge.feed([1, 0, 0, 0, 0, 0, 0, 1, 1, 0]))
        var below = TTRPCFrameReader(maxMessageSize: 4)
        XCTAssertEqual(
            try below.feed([0, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 0]),
            [.oversized(TTRPCFrameHeader(length: 0xff_ffff, streamID: 1, type: 1))])
    }
}
