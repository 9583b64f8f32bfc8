import Foundation
import Synchronization
import XCTest

@testable import ContainerEngine

/// The agent-wide bound on unread output: past it, each stream keeps only its reserve, and
/// room freed anywhere resumes the paused ones.
final class OutputBudgetTests: XCTestCase {
    func testPastTheLimitAStreamKeepsOnlyItsReserve() async {
        let budget = OutputBudget(limit: 1000, reserve: 100)
        let unread = OutputBuffer(budget: budget)
        let other = OutputBuffer(budget: budget)
        unread.append(Data(repeating: 1, count: 1000))
        XCTAssertEqual(budget.total, 1000)
        XCTAssertTrue(other.hasRoom, "a stream under its reserve may always read")
        other.append(Data(repeating: 2, count: 100))
        XCTAssertFalse(other.hasRoom, "past its reserve with the budget spent, it waits")
        // Room freed by another stream's reader resumes the paused one.
        let resumed = expectation(description: "room from the budget")
        other.onRoom { resumed.fulfill() }
        let piece = await unread.read(maxBytes: 500)
        XCTAssertEqual(piece.count, 500)
        await fulfillment(of: [resumed], timeout: 5)
        XCTAssertTrue(other.hasRoom)
        XCTAssertEqual(budget.total, 600)
    }

    func testRoomAlreadyThereCallsBackAtOnce() {
        let budget = OutputBudget(limit: 1000, reserve: 100)
        let buffer = OutputBuffer(budget: budget)
        let called = expectation(description: "called at once")
        buffer.onRoom { called.fulfill() }
        wait(for: [called], timeout: 0)
    }

    func testDiscardAndDeinitReturnTheBytes() {
        let budget = OutputBudget(limit: 1000, reserve: 100)
        let discarded = OutputBuffer(budget: budget)
        discarded.append(Data(repeating: 1, count: 300))
        discarded.discard()
        discarded.append(Data(repeating: 1, count: 300))  // a late pump read after removal
        XCTAssertEqual(budget.total, 0)
        do {
            let dropped = OutputBuffer(budget: budget)
            dropped.append(Data(repeating: 1, count: 200))
            XCTAssertEqual(budget.total, 200)
        }
        XCTAssertEqual(budget.total, 0)
    }

    /// Many pause/resume rounds of one stream while another holds the budget register one
    /// budget callback, not one per round.
    func testOneBudgetCallbackPerBuffer() async {
        let budget = OutputBudget(limit: 1000, reserve: 100)
        let hog = OutputBuffer(budget: budget)
        hog.append(Data(repeating: 1, count: 1000))
        let stream = OutputBuffer(budget: budget)
        for _ in 0..<50 {
            stream.append(Data(repeating: 2, count: 100))
            stream.onRoom {}
            _ = await stream.read(maxBytes: 100)
        }
        var fired = 0
        let counted = Mutex(0)
        stream.append(Data(repeating: 2, count: 100))
        stream.onRoom { counted.withLock { $0 += 1 } }
        _ = await hog.read(maxBytes: 1000)
        fired = counted.withLock { $0 }
        XCTAssertEqual(fired, 1)
    }
}
