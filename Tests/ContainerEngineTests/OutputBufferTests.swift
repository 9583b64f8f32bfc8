import Foundation
import NIOCore
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

    /// A read within one chunk lends a slice of it: the bytes are not copied on their way to
    /// the answer (a ttrpc answer writes the slice itself).
    func testReadWithinAChunkIsASliceOfIt() async {
        let buffer = OutputBuffer()
        let bytes = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var chunk = ByteBufferAllocator().buffer(capacity: bytes.count)
        chunk.writeBytes(bytes)
        buffer.append(chunk)
        let base = chunk.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let first = await buffer.lend(maxBytes: 100)
        XCTAssertEqual(first.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }, base)
        XCTAssertEqual(Array(first.bytes.readableBytesView), Array(bytes[0..<100]))
        buffer.settle(first, delivered: true)
        let second = await buffer.lend(maxBytes: 100)
        XCTAssertEqual(second.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }, base + 100)
        var data = second.data
        buffer.settle(second, delivered: true)
        XCTAssertEqual(Array(data), Array(bytes[100..<200]), "the Data outlives its loan")
        data[data.startIndex] ^= 0xff
        let across = await buffer.read(maxBytes: 10_000)
        XCTAssertEqual(Array(across), Array(bytes[200...]))
        XCTAssertEqual(Array(chunk.readableBytesView), bytes, "a change to the Data reached the chunk")
    }

    /// The pump's block: a long read is handed over as it is, a short one is copied out at its
    /// size and the block is kept for the next read.
    func testPumpReadBlockHandsOverLongReadsAndCopiesShortOnes() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        var block = ReadBlock()
        let long = [UInt8]((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        XCTAssertEqual(write(fds[1], long, long.count), long.count)
        let n = block.read(fds[0])
        XCTAssertEqual(n, long.count)
        let handed = block.take(n)
        XCTAssertEqual(Array(handed.readableBytesView), long)
        let short = [UInt8]("hello".utf8)
        XCTAssertEqual(write(fds[1], short, short.count), short.count)
        XCTAssertEqual(block.read(fds[0]), short.count)   // a fresh block after the hand-over
        let copied = block.take(short.count)
        XCTAssertEqual(Array(copied.readableBytesView), short)
        XCTAssertEqual(Array(handed.readableBytesView), long, "the handed-over bytes stay theirs after the block is reused")
        XCTAssertEqual(write(fds[1], long, 1000), 1000)
        XCTAssertEqual(block.read(fds[0]), 1000)
        XCTAssertEqual(Array(block.take(1000).readableBytesView), Array(long[0..<1000]))
        XCTAssertEqual(Array(copied.readableBytesView), short, "a copied read does not alias the block")
    }

    func testReaderWaitingOnEmptyBufferWakesOnAppend() async {
        let buffer = OutputBuffer()
        async let piece = buffer.read(maxBytes: 10)
        buffer.append(Data("hello".utf8))
        let got = await piece
        XCTAssertEqual(String(decoding: got, as: UTF8.self), "hello")
    }
}
