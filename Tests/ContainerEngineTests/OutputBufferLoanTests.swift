import Foundation
import XCTest

@testable import ContainerEngine

/// OutputBuffer's loans: bytes handed to a reader whose answer may not reach its client stay in
/// the buffer until the reader says whether it delivered them.
final class OutputBufferLoanTests: XCTestCase {
    func testUndeliveredLoanLeavesTheBytesForTheNextRead() async {
        let buffer = OutputBuffer()
        buffer.append(Data("first second".utf8))
        let loan = await buffer.lend(maxBytes: 6)
        XCTAssertEqual(String(decoding: loan.data, as: UTF8.self), "first ")
        buffer.settle(loan, delivered: false)
        let again = await buffer.read(maxBytes: 100)
        XCTAssertEqual(String(decoding: again, as: UTF8.self), "first second")
    }

    func testDeliveredLoanConsumesTheBytes() async {
        let buffer = OutputBuffer()
        buffer.append(Data("abc".utf8))
        buffer.append(Data("def".utf8))
        let loan = await buffer.lend(maxBytes: 4)
        XCTAssertEqual(String(decoding: loan.data, as: UTF8.self), "abcd")
        buffer.settle(loan, delivered: true)
        buffer.settle(loan, delivered: true)  // settling twice consumes once
        buffer.finish()
        let rest = await buffer.read(maxBytes: 100)
        XCTAssertEqual(String(decoding: rest, as: UTF8.self), "ef")
        let eof = await buffer.read(maxBytes: 100)
        XCTAssertTrue(eof.isEmpty)
    }

    /// A read while a loan is open waits for it: it must not overtake bytes that may come back,
    /// nor report EOF before them.
    func testReadWaitsForTheOpenLoan() async {
        let buffer = OutputBuffer()
        buffer.append(Data("head".utf8))
        buffer.finish()
        let loan = await buffer.lend(maxBytes: 100)
        let started = expectation(description: "second read started")
        let second = Task {
            started.fulfill()
            return await buffer.read(maxBytes: 100)
        }
        await fulfillment(of: [started], timeout: 5)
        buffer.settle(loan, delivered: false)
        let got = await second.value
        XCTAssertEqual(String(decoding: got, as: UTF8.self), "head", "the second read did not get the returned bytes")
        let eof = await buffer.read(maxBytes: 100)
        XCTAssertTrue(eof.isEmpty)
    }

    func testLoanFromBeforeDiscardChangesNothing() async {
        let buffer = OutputBuffer()
        buffer.append(Data("gone".utf8))
        let loan = await buffer.lend(maxBytes: 100)
        buffer.discard()
        buffer.settle(loan, delivered: false)
        let eof = await buffer.read(maxBytes: 100)
        XCTAssertTrue(eof.isEmpty, "discarded bytes came back")
    }

    func testRoomReturnsOnlyWhenALoanIsDelivered() async {
        let buffer = OutputBuffer()
        let big = Data(repeating: 1, count: 1 << 20)
        for _ in 0..<(OutputBuffer.limit >> 20) { buffer.append(big) }
        let freed = expectation(description: "room callback")
        buffer.onRoom { freed.fulfill() }
        let loan = await buffer.lend(maxBytes: 32 << 10)
        buffer.settle(loan, delivered: false)
        XCTAssertFalse(buffer.hasRoom, "an undelivered loan freed room")
        // Delivered loans down to the resume mark wake the pump.
        let delivered = await buffer.lend(maxBytes: OutputBuffer.limit - OutputBuffer.resumeMark)
        buffer.settle(delivered, delivered: true)
        await fulfillment(of: [freed], timeout: 5)
        XCTAssertTrue(buffer.hasRoom)
    }
}
