@testable import TTRPCWire
import XCTest

@testable import AgentWire

/// The hand-over of accepted ttrpc calls from a connection's event loop to its serve loop:
/// order kept, a finish drains before it ends the loop, a cancelled serve loop stops waiting.
final class TTRPCCallQueueTests: XCTestCase {
    private func call(_ id: UInt32) -> TTRPCCall {
        TTRPCCall(streamID: id, request: TTRPCRequest(service: "s", method: "m", payload: []))
    }

    func testCallsComeOutInOrderThenFinishEndsTheLoop() async {
        let queue = TTRPCCallQueue()
        // More than the batch the queue compacts at, so dropping taken calls is exercised.
        for id in stride(from: UInt32(1), through: 301, by: 2) { queue.push(call(id)) }
        queue.finish()
        queue.push(call(999))  // after finish: dropped
        var ids: [UInt32] = []
        while let next = await queue.next() { ids.append(next.streamID) }
        XCTAssertEqual(ids, Array(stride(from: UInt32(1), through: 301, by: 2)))
        let afterEnd = await queue.next()
        XCTAssertNil(afterEnd)
    }

    func testAWaitingLoopGetsTheNextPushAndTheFinish() async {
        let queue = TTRPCCallQueue()
        let consumer = Task { () -> [UInt32] in
            var ids: [UInt32] = []
            while let next = await queue.next() { ids.append(next.streamID) }
            return ids
        }
        for id in [UInt32(1), 3, 5] { queue.push(call(id)) }
        queue.finish()
        let ids = await consumer.value
        XCTAssertEqual(ids, [1, 3, 5])
    }

    func testCancellingTheWaitingLoopEndsItAndLaterCallsAreDropped() async {
        let queue = TTRPCCallQueue()
        let started = expectation(description: "consumer waiting")
        let consumer = Task { () -> TTRPCCall? in
            started.fulfill()
            return await queue.next()
        }
        await fulfillment(of: [started], timeout: 10)
        consumer.cancel()
        let ended = await consumer.value
        XCTAssertNil(ended)
        queue.push(call(7))
        let afterCancel = await queue.next()
        XCTAssertNil(afterCancel, "a cancelled queue hands out nothing more")
    }

    func testAnAlreadyCancelledLoopGetsNilWithoutWaiting() async {
        let queue = TTRPCCallQueue()
        let consumer = Task { () -> TTRPCCall? in
            withUnsafeCurrentTask { $0?.cancel() }
            return await queue.next()
        }
        let value = await consumer.value
        XCTAssertNil(value)
    }
}
