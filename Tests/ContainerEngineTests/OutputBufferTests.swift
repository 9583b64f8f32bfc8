import Foundation
import Synchronization
import XCTest

@testable import ContainerEngine

/// OutputBuffer's chunk queue: bytes come out in order, in any read size, then EOF.
final class OutputBufferTests: XCTestCase {
    func testReadsAcrossChunkBoundariesPreserveOrder() async {
        let buffer = OutputBuffer()
        var expected = Data()
        for i in 0..<300 {
            let chunk = Data((0..<(i % 7 + 1) * 97).map { UInt8(truncatingIfNeeded: $0 &+ i) })
            expected.append(chunk)
            buffer.append(chunk)
        }
        buffer.finish()
        var got = Data()
        var sizes = [1, 5, 96, 97, 98, 1000, 4096, 65536].makeIterator()
        while true {
            let size = sizes.next() ?? 333
            let piece = await buffer.read(maxBytes: size)
            if piece.isEmpty { break }
            XCTAssertLessThanOrEqual(piece.count, size)
            got.append(piece)
        }
        XCTAssertEqual(got.count, expected.count)
        XCTAssertEqual(got, expected)
        let again = await buffer.read(maxBytes: 10)
        XCTAssertTrue(again.isEmpty, "EOF stays EOF")
    }

    func testRoomReturnsAfterReaderDrainsPastLimit() async {
        let buffer = OutputBuffer()
        let big = Data(repeating: 7, count: 1 << 20)
        for _ in 0..<(OutputBuffer.limit >> 20) { buffer.append(big) }
        XCTAssertFalse(buffer.hasRoom)
        // Waiters run synchronously inside the read that frees the room.
        let calls = Mutex(0)
        buffer.onRoom { calls.withLock { $0 += 1 } }
        let piece = await buffer.read(maxBytes: 32 << 10)
        XCTAssertEqual(piece.count, 32 << 10)
        XCTAssertEqual(calls.withLock { $0 }, 0, "the pump was woken for one 32 KiB read")
        var left = OutputBuffer.limit - piece.count
        while left > OutputBuffer.resumeMark {
            left -= await buffer.read(maxBytes: 1 << 20).count
        }
        XCTAssertEqual(calls.withLock { $0 }, 1, "the pump was not woken at the resume mark")
        XCTAssertTrue(buffer.hasRoom)
    }

    func testReaderWaitingOnEmptyBufferWakesOnAppend() async {
        let buffer = OutputBuffer()
        async let piece = buffer.read(maxBytes: 10)
        buffer.append(Data("hello".utf8))
        let got = await piece
        XCTAssertEqual(String(decoding: got, as: UTF8.self), "hello")
    }
}
